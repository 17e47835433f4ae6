"""Pipelines, stage gates and next-best actions."""
