"""An opportunity's states: open while it moves through its pipeline's stages, then won or lost."""

from __future__ import annotations

from enum import StrEnum


class OpportunityStatus(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"
