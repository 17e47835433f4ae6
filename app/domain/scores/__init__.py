"""Health, engagement, intent and win-probability scores, and training the win model."""
