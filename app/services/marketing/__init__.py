"""Marketing: campaigns and their costs, and engagement events."""
