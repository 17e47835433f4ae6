"""Re-encrypting every stored secret with the first key of CRM_SECRETS_KEY, the step of a key
rotation after which the old keys can be dropped (docs/operations.md)."""

from __future__ import annotations

from sqlalchemy import Text, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Base
from app.encryption import EncryptedJSON, EncryptedText, key_ring


async def reencrypt_all(session: AsyncSession) -> int:
    """How many values were written again. Each is rewritten only if it is still the token read, so
    a secret changed meanwhile (a rotation, a new channel config) is never put back."""
    ring = key_ring()
    rewritten = 0
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, EncryptedText | EncryptedJSON):
                continue
            # Text instead of the column's type: the tokens as stored, not decrypted.
            stored = type_coerce(column, Text)
            rows = await session.execute(select(table.c.id, stored).where(column.is_not(None)))
            for row_id, token in rows.all():
                result = await session.execute(
                    update(table)
                    .where(table.c.id == row_id, stored == token)
                    .values({column.name: type_coerce(ring.reencrypt(token), Text)})
                )
                rewritten += int(getattr(result, "rowcount", 0) or 0)
    return rewritten
