"""An organization's business rules as its settings give them, and its business calendars."""
