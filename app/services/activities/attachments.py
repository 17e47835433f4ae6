"""Attachments: stored by content hash check, served only to those who can see the parent record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.attachments import check_attachment
from app.domain.identity.principal import Principal
from app.domain.models import Activity, Attachment, AttachmentParent, Customer, Lead, Opportunity
from app.domain.platform.errors import TooLarge
from app.services.activities import activities
from app.services.customers import customers
from app.services.leads import leads
from app.services.pipelines import opportunities
from app.services.platform import audit
from app.services.platform.common import get_visible
from app.services.platform.storage import FileStorage, sha256_hex


async def _visible_parent(
    session: AsyncSession,
    actor: Principal,
    parent_type: AttachmentParent,
    parent_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Lead | Customer | Opportunity | Activity:
    """The parent once the actor may read it (else 404, as its own GET answers): a merged lead's
    or customer's id gives its survivor."""
    match parent_type:
        case AttachmentParent.lead:
            return await leads.get_lead(session, actor=actor, lead_id=parent_id, for_update=for_update)
        case AttachmentParent.customer:
            return await customers.get_customer(
                session, actor=actor, customer_id=parent_id, for_update=for_update
            )
        case AttachmentParent.opportunity:
            return await opportunities.get_opportunity(
                session, actor=actor, opportunity_id=parent_id, for_update=for_update
            )
        case AttachmentParent.activity:
            return await activities.get_activity(
                session, actor=actor, activity_id=parent_id, for_update=for_update
            )


async def upload_attachment(
    session: AsyncSession,
    *,
    actor: Principal,
    parent_type: AttachmentParent,
    parent_id: uuid.UUID,
    filename: str,
    content: bytes,
    max_bytes: int,
    storage: FileStorage,
    now: datetime,
) -> Attachment:
    if len(content) > max_bytes:
        raise TooLarge(f"Attachments are limited to {max_bytes} bytes.", code="attachment.too_large")
    media_type = check_attachment(content)
    # An activity is locked: the file joins its attachment_ids, which two uploads must not both rewrite.
    parent = await _visible_parent(
        session, actor, parent_type, parent_id, for_update=parent_type is AttachmentParent.activity
    )
    attachment_id = uuid.uuid4()
    storage_key = f"attachments/{actor.organization_id}/{attachment_id}"
    storage.save(storage_key, content)
    attachment = Attachment(
        id=attachment_id,
        organization_id=actor.organization_id,
        parent_type=parent_type,
        parent_id=parent.id,
        filename=filename[:255] or "file",
        content_type=media_type,
        size_bytes=len(content),
        sha256=sha256_hex(content),
        storage_key=storage_key,
        uploaded_by_id=actor.user_id,
        # On the request's clock: a stage gate counts the deal's files uploaded since it entered
        # its stage, a time taken from the same clock.
        created_at=now,
        updated_at=now,
    )
    session.add(attachment)
    if isinstance(parent, Activity):
        # An activity's attachment_ids lists every file it carries: those named when it was
        # recorded and those uploaded onto it since.
        parent.attachment_ids = [*parent.attachment_ids, str(attachment.id)]
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="attachment.created",
        entity_type="attachment",
        entity_id=attachment.id,
        after=audit.snapshot(attachment, ("parent_type", "parent_id", "filename", "content_type", "sha256")),
    )
    return attachment


@dataclass(frozen=True)
class AttachmentDownload:
    attachment: Attachment
    content: bytes


async def download_attachment(
    session: AsyncSession, *, actor: Principal, attachment_id: uuid.UUID, storage: FileStorage
) -> AttachmentDownload:
    attachment = await get_visible(session, Attachment, attachment_id, actor=actor)
    # Seeing the attachment's id is not enough: the parent record must be visible too (else 404).
    await _visible_parent(session, actor, attachment.parent_type, attachment.parent_id)
    return AttachmentDownload(attachment, storage.read(attachment.storage_key))
