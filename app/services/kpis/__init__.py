"""KPI queries, one module per family of KPIs; definitions in docs/kpis.md."""
