"""Assignment rules and strategies, and masking a pooled lead's contacts."""
