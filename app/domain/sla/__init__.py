"""Service levels in business time: calendars, working hours and SLA rules."""
