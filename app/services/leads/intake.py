"""Web-to-lead intake (issue 21, point 1): the web forms marketing manages at /intake-forms, and a
submission to POST /intake/{form_key}, which becomes a lead through the same use case as POST /leads
(de-duplication, assignment, SLA, events) with the form as its actor."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.intake import (
    CAPTCHA_TOKEN_FIELD,
    MappedLead,
    check_mapping,
    in_form_terms,
    is_honeypot_filled,
    map_submission,
)
from app.domain.leads.leads import LeadSource
from app.domain.models import IntakeForm
from app.domain.platform.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from app.metrics import INTAKE_SUBMISSIONS
from app.services.identity.security import hash_api_key_secret
from app.services.leads import leads
from app.services.leads.captcha import captcha_passes
from app.services.marketing import campaigns
from app.services.notifications.channel_delivery import check_url
from app.services.organization.policy import rules_for
from app.services.platform import audit, rate_limits
from app.services.platform.common import OrganizationList, check_version, get_visible

logger = logging.getLogger(__name__)

KEY_PREFIX = "ifk_"
RATE_WINDOW = timedelta(minutes=1)
AUDITED_FIELDS = (
    "name",
    "key_prefix",
    "source",
    "campaign_id",
    "field_mapping",
    "honeypot_field",
    "form_rate_limit",
    "client_rate_limit",
    "captcha_verify_url",
    "is_active",
)


@dataclass(frozen=True)
class FormWithKey:
    form: IntakeForm
    key: str


@dataclass(frozen=True)
class Submission:
    """What a web form posted, as text fields, and where from."""

    fields: Mapping[str, str]
    client: str


def _new_key() -> tuple[str, str, str]:
    """(key, its hash, its prefix): 192 random bits, url-safe, so it can sit in a form's action URL."""
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    return key, hash_api_key_secret(key), key[:12]


async def _check_settings(
    session: AsyncSession,
    actor: Principal,
    values: Mapping[str, Any],
    allow_private: bool,
    changed: frozenset[str] | None = None,
) -> None:
    """The campaign against the organization's, the mapping against the lead's fields (custom ones
    included), the captcha URL against SSRF and its secret. An edit checks only what it changes
    (`changed`): switching a form off must not fail on a provider's DNS or a custom field removed
    since."""

    def touched(*names: str) -> bool:
        return changed is None or bool(changed & set(names))

    if touched("campaign_id"):
        await campaigns.check_campaign(session, actor, values.get("campaign_id"))
    if touched("field_mapping", "honeypot_field"):
        policy = await rules_for(session, actor.organization_id)
        check_mapping(
            values["field_mapping"], list(policy.lead_fields), honeypot_field=values.get("honeypot_field")
        )
    url = values.get("captcha_verify_url")
    if url is not None and touched("captcha_verify_url"):
        await _check_captcha_url(url, allow_private)
    secret_missing = url is not None and not values.get("captcha_secret")
    if secret_missing and touched("captcha_verify_url", "captcha_secret"):
        raise InvalidInput(
            "A captcha check needs the provider's secret.",
            code="intake.captcha_secret_missing",
            errors=[FieldError("captcha_secret", "missing", "required with captcha_verify_url")],
        )


async def _check_captcha_url(url: str, allow_private: bool) -> None:
    try:
        await check_url(url, allow_private=allow_private)
    except (InvalidInput, OSError) as exc:
        raise InvalidInput(
            "The captcha verification URL may not be called.",
            code="intake.captcha_url_refused",
            errors=[FieldError("captcha_verify_url", "destination_refused", str(exc)[:200])],
        ) from exc


async def create_form(
    session: AsyncSession, *, actor: Principal, values: dict[str, Any], allow_private: bool
) -> FormWithKey:
    """The key is answered once, here; only its hash is stored."""
    await _check_settings(session, actor, values, allow_private)
    key, key_hash, key_prefix = _new_key()
    form = IntakeForm(
        organization_id=actor.organization_id,
        key_hash=key_hash,
        key_prefix=key_prefix,
        created_by_id=actor.user_id,
        **values,
    )
    session.add(form)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="intake_form.created",
        entity_type="intake_form",
        entity_id=form.id,
        after=audit.snapshot(form, AUDITED_FIELDS),
    )
    return FormWithKey(form, key)


async def get_form(
    session: AsyncSession, *, actor: Principal, form_id: uuid.UUID, for_update: bool = False
) -> IntakeForm:
    return await get_visible(session, IntakeForm, form_id, actor=actor, for_update=for_update)


_FORM_SORTABLE = {"created_at": IntakeForm.created_at, "updated_at": IntakeForm.updated_at}
list_forms = OrganizationList(IntakeForm, _FORM_SORTABLE, default_sort="created_at")


async def update_form(
    session: AsyncSession,
    *,
    actor: Principal,
    form_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
    allow_private: bool,
) -> IntakeForm:
    form = await get_form(session, actor=actor, form_id=form_id, for_update=True)
    merged = {
        name: getattr(form, name)
        for name in ("field_mapping", "honeypot_field", "captcha_verify_url", "captcha_secret")
    }
    await _check_settings(session, actor, {**merged, **changes}, allow_private, frozenset(changes))
    check_version(form, expected_version)
    before = audit.snapshot(form, AUDITED_FIELDS)
    for name, value in changes.items():
        setattr(form, name, value)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="intake_form.updated",
        entity_type="intake_form",
        entity_id=form.id,
        before=before,
        after=audit.snapshot(form, AUDITED_FIELDS),
    )
    return form


async def delete_form(session: AsyncSession, *, actor: Principal, form_id: uuid.UUID) -> None:
    """Its key stops working at once; the leads it brought in stay."""
    form = await get_form(session, actor=actor, form_id=form_id, for_update=True)
    before = audit.snapshot(form, AUDITED_FIELDS)
    await session.delete(form)
    await audit.record_audit(
        session,
        actor=actor,
        action="intake_form.deleted",
        entity_type="intake_form",
        entity_id=form_id,
        before=before,
    )


async def rotate_key(session: AsyncSession, *, actor: Principal, form_id: uuid.UUID) -> FormWithKey:
    """A new key, answered once; the old one stops working when this commits (a leaked key)."""
    form = await get_form(session, actor=actor, form_id=form_id, for_update=True)
    key, form.key_hash, form.key_prefix = _new_key()
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="intake_form.key_rotated",
        entity_type="intake_form",
        entity_id=form.id,
        after={"key_prefix": form.key_prefix},
    )
    return FormWithKey(form, key)


async def admit_submission(session: AsyncSession, *, key: str, client: str, now: datetime) -> uuid.UUID:
    """The active form the key opens, once the submission is within its rate limits (per client
    address, then per form). Run in a transaction of its own that the caller commits first, as the
    sign-in throttle is: concurrent submissions cannot all pass. A refusal rolls its counts back."""
    form = await session.scalar(
        select(IntakeForm).where(
            IntakeForm.key_hash == hash_api_key_secret(key), IntakeForm.is_active.is_(True)
        )
    )
    if form is None:
        raise NotFound("No active web form has this key.", code="intake_form.not_found")
    for counter, limit, whose in (
        (f"intake:{form.id}|client:{client[:64]}", form.client_rate_limit, "from this address"),
        (f"intake:{form.id}", form.form_rate_limit, "to this form"),
    ):
        await rate_limits.take_one(
            session,
            key=counter,
            limit=limit,
            window=RATE_WINDOW,
            now=now,
            detail=f"Too many submissions {whose}; try again in a minute.",
        )
    return form.id


async def submit(
    session: AsyncSession, *, form_id: uuid.UUID, submission: Submission, now: datetime, allow_private: bool
) -> None:
    """Honeypot, captcha, mapping, then the lead: a new one, or a duplicate merged into the lead
    that has this phone or e-mail, as POST /leads?on_duplicate=merge does. The caller answers the
    same either way, so a form cannot be used to learn who is already a lead."""
    form = await session.get(IntakeForm, form_id)
    if form is None or not form.is_active:  # deleted or switched off since it was admitted
        raise NotFound("No active web form has this key.", code="intake_form.not_found")
    if is_honeypot_filled(submission.fields, form.honeypot_field):
        # Answered as a success, so the bot learns nothing; the log and the metric count it.
        INTAKE_SUBMISSIONS.labels(outcome="honeypot").inc()
        logger.info(
            "intake.honeypot_filled", extra={"intake_form_id": str(form.id), "client": submission.client}
        )
        return
    await _check_captcha(form, submission, allow_private)
    policy = await rules_for(session, form.organization_id)
    mapped = map_submission(submission.fields, form.field_mapping, list(policy.lead_fields))
    actor = Principal.for_intake_form(form.organization_id, form.id)
    try:
        created = await leads.create_lead(
            session,
            actor=actor,
            data=lead_input_from_form(form, mapped),
            now=now,
            on_duplicate=leads.OnDuplicate.merge,
        )
    except InvalidInput as refusal:
        raise in_form_terms(refusal, form.field_mapping) from refusal
    INTAKE_SUBMISSIONS.labels(outcome="accepted").inc()
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.received_from_intake_form",
        entity_type="lead",
        entity_id=created.lead.id,
        after={
            "intake_form": f"intake form {form.name}",
            "intake_form_id": form.id,
            "merged": created.merged,
        },
    )


def lead_input_from_form(form: IntakeForm, mapped: MappedLead) -> leads.NewLead:
    """The lead-creation input of a submission: the mapped values, the form's source and campaign,
    and the form's creator as the one who entered it, so marketing follows its forms' leads."""
    return leads.NewLead(
        source=LeadSource(form.source),
        campaign_id=form.campaign_id,
        entered_by_id=form.created_by_id,
        custom_fields=mapped.custom_fields,
        **mapped.values,
    )


async def _check_captcha(form: IntakeForm, submission: Submission, allow_private: bool) -> None:
    if not form.captcha_verify_url or not form.captcha_secret:
        return
    token = submission.fields.get(CAPTCHA_TOKEN_FIELD, "").strip()
    passed = bool(token) and await captcha_passes(
        verify_url=form.captcha_verify_url,
        secret=form.captcha_secret,
        token=token,
        client=submission.client,
        allow_private=allow_private,
    )
    if not passed:
        raise PermissionDenied("The captcha check failed; solve it again.", code="intake.captcha_failed")
