"""Similar company names among a tenant's leads or customers: the nearest keys of one index range,
scored by the fuzzy matcher of app/domain/platform/dedup.py."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.platform.dedup import Match, comparable_name_key, find_similar_companies, prefix_range

# Fuzzy matching compares against at most this many records, the names sorting nearest.
FUZZY_CANDIDATE_LIMIT = 200


class SimilarNames:
    """Finds records whose normalised name is close to a given one.

    Candidates are the names sorting next to it among those sharing its first three characters:
    they share the longest beginnings with it, and near-duplicates mostly differ late (a suffix, a
    typo). With both ends of the block bound, each half is one range scan of the (organization,
    key) index, however many records the tenant has (byte order: SQLite's, and collation "C" on
    PostgreSQL). A misspelt first character is missed, which a trigram index (pg_trgm) would catch.
    """

    def __init__(
        self,
        id_column: InstrumentedAttribute[uuid.UUID],
        key_column: InstrumentedAttribute[Any],
        organization_column: InstrumentedAttribute[uuid.UUID],
        *conditions: ColumnElement[bool],
    ) -> None:
        self._columns = (id_column, key_column, organization_column)
        self._conditions = conditions
        # Built once (one per shape of the block): each look-up only binds the values.
        self._statements = {bounded: self._candidates(bounded) for bounded in (False, True)}

    def _candidates(self, bounded_above: bool) -> Any:
        """The names sorting next to `:key` on both sides, within the block [`:low`, `:high`)."""
        id_column, key, organization = self._columns
        block = [organization == bindparam("organization_id"), key >= bindparam("low"), *self._conditions]
        if bounded_above:
            block.append(key < bindparam("high"))
        half = FUZZY_CANDIDATE_LIMIT // 2
        nearby = select(id_column, key)
        following = nearby.where(*block, key >= bindparam("key")).order_by(key).limit(half)
        preceding = nearby.where(*block, key < bindparam("key")).order_by(key.desc()).limit(half)
        return union_all(following.subquery().select(), preceding.subquery().select())

    async def find(
        self,
        session: AsyncSession,
        organization_id: uuid.UUID,
        name_key: str | None,
        *,
        threshold: float,
        limit: int = 5,
    ) -> list[Match[uuid.UUID]]:
        if not name_key:
            return []
        low, high = prefix_range(name_key[:3])
        parameters = {"organization_id": organization_id, "low": low, "high": high, "key": name_key}
        rows = await session.execute(self._statements[high is not None], parameters)
        candidates = [(row_id, comparable_name_key(key)) for row_id, key in rows if key]
        return find_similar_companies(name_key, candidates, threshold=threshold, limit=limit)
