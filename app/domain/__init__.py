"""Business rules and entities, free of I/O."""
