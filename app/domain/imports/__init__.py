"""Import mappings and parsing rows of another system's export."""
