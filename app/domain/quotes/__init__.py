"""Quote arithmetic, the quote life cycle, price floors and approval."""
