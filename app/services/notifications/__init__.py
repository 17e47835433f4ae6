"""Delivering the outbox: the in-app inbox, chat channels, webhooks and their deliveries."""
