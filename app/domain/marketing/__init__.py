"""Campaigns: channels, when one runs, and the ROI arithmetic."""
