"""Routers, one module per resource; each carries its full path so metrics see the real template."""

API_V1 = "/api/v1"
