"""Attachment metadata."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ConfigDict

from app.api.schemas.common import Record
from app.domain.models import AttachmentParent

_ATTACHMENT_EXAMPLE: dict[str, Any] = {
    "id": "1f2e3d4c-5b6a-4798-8877-665544332211",
    "version": 1,
    "created_at": "2026-11-23T03:01:00Z",
    "updated_at": "2026-11-23T03:01:00Z",
    "parent_type": "customer",
    "parent_id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    "filename": "屋面现场.jpg",
    "content_type": "image/jpeg",
    "size_bytes": 348211,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}


class AttachmentOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_ATTACHMENT_EXAMPLE]})

    parent_type: AttachmentParent
    parent_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
