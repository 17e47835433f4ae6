"""Lead life cycle: sources, statuses and which moves between them are allowed."""

from __future__ import annotations

from enum import StrEnum

from app.domain.platform.errors import Conflict


class LeadSource(StrEnum):
    web_form = "web_form"
    phone_400 = "phone_400"
    ad = "ad"
    exhibition = "exhibition"
    referral = "referral"
    wecom = "wecom"
    import_ = "import"
    api = "api"


class LeadStatus(StrEnum):
    new = "new"
    # In the public pool: no owner; any rep may claim it.
    pooled = "pooled"
    assigned = "assigned"
    contacted = "contacted"
    qualified = "qualified"
    converted = "converted"
    disqualified = "disqualified"
    # Merged into another lead (its survivor): out of lists, the pool and assignment.
    merged = "merged"


CLOSED_STATUSES = frozenset({LeadStatus.converted, LeadStatus.disqualified, LeadStatus.merged})
OPEN_STATUSES = frozenset(LeadStatus) - CLOSED_STATUSES


def ensure_open(status: LeadStatus, *, action: str) -> None:
    """Converted, disqualified and merged leads are history; they are not worked any more."""
    if status in CLOSED_STATUSES:
        raise Conflict(f"The lead is {status.value}; it cannot be {action}.", code="lead.closed")


def status_after_contact(status: LeadStatus) -> LeadStatus:
    """A first contact moves a new or assigned lead on; later stages are kept."""
    return LeadStatus.contacted if status in (LeadStatus.new, LeadStatus.assigned) else status
