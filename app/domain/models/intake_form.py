"""Web forms that post leads straight into the CRM (web-to-lead intake, issue 21 point 1)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.leads.leads import LeadSource
from app.encryption import EncryptedText


class IntakeForm(Entity):
    __tablename__ = "intake_form"
    __table_args__ = (
        # A submission finds its form by the key's hash alone: one index hit, whatever the tenant.
        UniqueConstraint("key_hash"),
        Index(None, "organization_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the secret form key; the key itself is answered once (create, rotate-key).
    key_hash: Mapped[str] = mapped_column(String(64))
    # The key's first characters, to tell keys apart in the list without revealing them.
    key_prefix: Mapped[str] = mapped_column(String(12))
    source: Mapped[LeadSource] = mapped_column(str_enum(LeadSource), default=LeadSource.web_form)
    # The campaign the form's leads belong to. No foreign key yet: the campaign table arrives with
    # the campaigns work (issue 21), which adds the reference and passes it on to the lead.
    campaign_id: Mapped[uuid.UUID | None]
    # Form field name -> lead field ("name", "phone", ..., "custom_fields.<key>").
    field_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    honeypot_field: Mapped[str | None] = mapped_column(String(64))
    # Submissions accepted per minute: from anyone to this form, and from one client address.
    form_rate_limit: Mapped[int] = mapped_column(default=60)
    client_rate_limit: Mapped[int] = mapped_column(default=5)
    # Optional captcha check (reCAPTCHA, hCaptcha, Turnstile: the same siteverify protocol).
    captcha_verify_url: Mapped[str | None] = mapped_column(String(2000))
    captcha_secret: Mapped[str | None] = mapped_column(EncryptedText())
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    @property
    def has_captcha_secret(self) -> bool:
        return self.captcha_secret is not None
