"""KPI definitions and list exports."""
