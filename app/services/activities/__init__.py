"""Sales work on records: activities, attachments and tasks with their reminders."""
