"""Pipelines and opportunities: staged, gated deals and the next-best actions for them."""
