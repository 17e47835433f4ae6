"""Masking a pooled lead's phone, e-mail and WeChat id until a seller claims it (settings
`lead_pool.mask_contacts`): the pool shows whom a lead is about, not how to reach them, so nobody
works a lead without claiming it (and meeting the claim limits).

Management sees the pool in full: admins and directors, and integrations' API keys, which read
every owned lead's contacts anyway. Supervisors claim from the pool like reps (within the same
limits), so they see it masked too; a lead they assign to their team is no longer pooled and shows
in full. Whoever entered a lead sees what they typed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus

MASK = "****"


def mask_phone(phone: str) -> str:
    """The four digits before the last four hidden, as Chinese screens do (`139****2222`; stored
    E.164 numbers keep their country code: `+86139****2222`); a short number shows half its end."""
    shown_tail = min(4, len(phone) // 2)
    head = phone[: max(0, len(phone) - shown_tail - len(MASK))]
    return head + MASK + phone[len(phone) - shown_tail :]


def mask_email(email: str) -> str:
    """The first letter of the mailbox and the whole domain (`c***@d.cn`): which company, not whom."""
    mailbox, at, domain = email.rpartition("@")
    if not at:
        return mask_wechat(email)
    return f"{mailbox[:1]}***@{domain}"


def mask_wechat(wechat: str) -> str:
    """The first and the last character (`z***h`); a WeChat id of three or fewer shows its first."""
    return f"{wechat[:1]}***{wechat[-1:]}" if len(wechat) > 3 else f"{wechat[:1]}***"


def masked_contacts(phone: str | None, email: str | None, wechat: str | None) -> dict[str, str | None]:
    return {
        "phone": mask_phone(phone) if phone else phone,
        "email": mask_email(email) if email else email,
        "wechat": mask_wechat(wechat) if wechat else wechat,
    }


# A phone number as people type it into notes (`139 1234 2222`, `021-6234-1234`, `+86 139...`):
# ten digits or more, single spaces or dashes between them; an ISO date with its hour is not one.
_PHONE_IN_TEXT = re.compile(r"(?<![\d+])(?!\d{4}-\d{1,2}-\d{1,2}\b)\+?\d(?:[ \-]?\d){9,}(?!\d)")
_EMAIL_IN_TEXT = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


def masked_text(text: str, wechat: str | None) -> str:
    """Free text about a pooled lead (its notes, the notes and info points of its activities) with
    the ways to reach it masked as its contact fields are: phone numbers and e-mail addresses in
    it, and the lead's WeChat id, which no pattern recognises."""
    text = _PHONE_IN_TEXT.sub(lambda found: mask_phone(re.sub(r"[ \-]", "", found[0])), text)
    text = _EMAIL_IN_TEXT.sub(lambda found: mask_email(found[0]), text)
    if wechat:
        text = re.sub(re.escape(wechat), mask_wechat(wechat), text, flags=re.IGNORECASE)
    return text


def sees_pool_contacts(viewer: Principal) -> bool:
    """Admins, directors and API keys: those who see every lead of the organization."""
    return viewer.sees_whole_organization


@dataclass(frozen=True)
class PoolMasking:
    """Whether the pool is masked for one viewer: the setting is on and the viewer is not
    management."""

    is_on: bool
    viewer_id: uuid.UUID | None = None

    def hides(self, status: LeadStatus, created_by_id: uuid.UUID | None) -> bool:
        """Whether a lead in this status, entered by this user, shows its contacts masked."""
        entered_it = self.viewer_id is not None and created_by_id == self.viewer_id
        return self.is_on and status is LeadStatus.pooled and not entered_it


NO_MASKING = PoolMasking(is_on=False)


def pool_masking(viewer: Principal, *, mask_contacts: bool) -> PoolMasking:
    if not mask_contacts or sees_pool_contacts(viewer):
        return NO_MASKING
    return PoolMasking(is_on=True, viewer_id=viewer.user_id)
