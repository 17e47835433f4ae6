"""What managers read besides the KPIs: the status board and list exports."""
