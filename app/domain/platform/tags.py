"""Tags on leads and customers: free labels, at most MAX_TAGS on a record."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.platform.errors import FieldError, InvalidInput

MAX_TAGS = 20
MAX_TAG_LENGTH = 32


def retagged(current: Sequence[str], tags: Sequence[str], *, add: bool) -> list[str]:
    """`current` with `tags` added (or taken away), sorted; a record may not pass MAX_TAGS."""
    result = sorted(set(current) | set(tags)) if add else sorted(set(current) - set(tags))
    if len(result) > MAX_TAGS:
        raise InvalidInput(
            f"A record holds at most {MAX_TAGS} tags; this one would hold {len(result)}.",
            code="tags.too_many",
            errors=[FieldError("tags", "too_long", f"at most {MAX_TAGS} tags on a record")],
        )
    return result
