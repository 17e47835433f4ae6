"""Products, quotes and the discount approval of their prices."""
