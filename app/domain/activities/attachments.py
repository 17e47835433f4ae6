"""Which files may be attached, decided by their bytes, not their names."""

from __future__ import annotations

from enum import StrEnum

import filetype

from app.domain.platform.errors import FieldError, InvalidInput

# Site photos, scanned documents and call recordings from the reps' phones.
ALLOWED_MEDIA_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "application/pdf",
        "audio/mpeg",
        "audio/mp4",
        "audio/amr",
        "audio/aac",
        "audio/x-wav",
        "audio/ogg",
        "text/plain",
    }
)


def sniff_media_type(content: bytes) -> str | None:
    """The media type the content's magic bytes show; plain UTF-8 text without NULs counts as text."""
    kind = filetype.guess(content)
    if kind is not None:
        return str(kind.mime)
    if b"\x00" in content:
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def check_attachment(content: bytes) -> str:
    if not content:
        raise InvalidInput(
            "The file is empty.", code="attachment.empty", errors=[FieldError("file", "empty", "no bytes")]
        )
    media_type = sniff_media_type(content)
    if media_type not in ALLOWED_MEDIA_TYPES:
        raise InvalidInput(
            "This kind of file cannot be attached.",
            code="attachment.type_not_allowed",
            errors=[
                FieldError(
                    "file",
                    "type_not_allowed",
                    f"content looks like {media_type or 'unknown binary'}; allowed: "
                    + ", ".join(sorted(ALLOWED_MEDIA_TYPES)),
                )
            ],
        )
    return media_type


class AttachmentParent(StrEnum):
    lead = "lead"
    customer = "customer"
    opportunity = "opportunity"
    activity = "activity"
