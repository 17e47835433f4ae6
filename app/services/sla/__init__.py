"""Service levels: SLA timers and the sweep that warns, breaches and escalates them."""
