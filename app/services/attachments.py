"""Attachments: stored by content hash check, served only to those who can see the parent record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.attachments import check_attachment
from app.domain.errors import TooLarge
from app.domain.models import Attachment, AttachmentParent
from app.domain.principal import Principal
from app.services import audit, customers, leads
from app.services.common import get_visible
from app.services.storage import FileStorage, sha256_hex


async def _visible_parent_id(
    session: AsyncSession, actor: Principal, parent_type: AttachmentParent, parent_id: uuid.UUID
) -> uuid.UUID:
    """The parent's id once it is visible: a merged customer's id gives its survivor's."""
    if parent_type is AttachmentParent.lead:
        return (await leads.get_lead(session, actor=actor, lead_id=parent_id)).id
    return (await customers.get_customer(session, actor=actor, customer_id=parent_id)).id


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
) -> Attachment:
    if len(content) > max_bytes:
        raise TooLarge(f"Attachments are limited to {max_bytes} bytes.", code="attachment.too_large")
    media_type = check_attachment(content)
    parent_id = await _visible_parent_id(session, actor, parent_type, parent_id)
    attachment_id = uuid.uuid4()
    storage_key = f"attachments/{actor.organization_id}/{attachment_id}"
    storage.save(storage_key, content)
    attachment = Attachment(
        id=attachment_id,
        organization_id=actor.organization_id,
        parent_type=parent_type,
        parent_id=parent_id,
        filename=filename[:255] or "file",
        content_type=media_type,
        size_bytes=len(content),
        sha256=sha256_hex(content),
        storage_key=storage_key,
        uploaded_by_id=actor.user_id,
    )
    session.add(attachment)
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
    await _visible_parent_id(session, actor, attachment.parent_type, attachment.parent_id)
    return AttachmentDownload(attachment, storage.read(attachment.storage_key))
