"""The global search across leads, customers, contacts and opportunities."""
