"""Sales-management backend."""
