"""Background jobs: thin wrappers over services, run by arq or by the in-process runner."""
