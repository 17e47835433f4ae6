"""Rules every feature shares: errors, merge patches, periods, de-duplication keys, search text."""
