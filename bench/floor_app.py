"""The thinnest FastAPI app that creates a lead the way the API does, for bench.leads_floor.

POST /api/v1/leads validates a pydantic body, writes the raw bench's rows (lead, audit event,
outbox event) in one transaction on a bare asyncpg pool, and answers a pydantic model. What it
reads first is set by BENCH_FLOOR_READS, a comma-separated subset of:

- `user`: the token's user row (role, is_active), as every authenticated request does;
- `fuzzy`: the 200 company names sorting nearest in the name's block, scored with rapidfuzz, the
  matches stored on the lead (the API's look-up for possible duplicates, app/services/leads/leads.py).

No authentication, policy, audit snapshot, ORM, unit of work, middleware or job queue: what this
app sustains is an upper bound for the real API on the same machine.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI, status
from pydantic import BaseModel

from app.domain.organization.policy import OrganizationPolicy
from app.domain.platform.dedup import find_similar_companies, prefix_range
from bench.leads_throughput import insert_lead_rows

DSN = os.environ["BENCH_FLOOR_DSN"]
ORGANIZATION_ID = uuid.UUID(os.environ["BENCH_FLOOR_ORGANIZATION"])
READS = set(filter(None, os.environ.get("BENCH_FLOOR_READS", "").split(",")))
USER = 'SELECT role, is_active FROM "user" WHERE organization_id = $1 LIMIT 1'
CANDIDATES = """
(SELECT id, company_key FROM lead WHERE organization_id = $1 AND company_key >= $2
   AND company_key < $3 AND company_key >= $4 ORDER BY company_key LIMIT 100)
UNION ALL
(SELECT id, company_key FROM lead WHERE organization_id = $1 AND company_key >= $2
   AND company_key < $3 AND company_key < $4 ORDER BY company_key DESC LIMIT 100)
"""


class LeadIn(BaseModel):
    name: str
    source: str
    phone: str
    company: str


class LeadOut(BaseModel):
    id: uuid.UUID
    name: str
    company: str
    phone: str
    possible_duplicates: list[dict[str, object]]
    created_at: datetime


pools: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    pools["db"] = await asyncpg.create_pool(DSN, min_size=16, max_size=16)
    yield
    await pools["db"].close()


app = FastAPI(lifespan=lifespan)


async def _possible_duplicates(connection: asyncpg.Connection, company_key: str) -> list[dict[str, object]]:
    low, high = prefix_range(company_key[:3])  # the bench's names always have an upper bound
    rows = await connection.fetch(CANDIDATES, ORGANIZATION_ID, low, high, company_key)
    threshold = OrganizationPolicy().company_match_threshold
    matches = find_similar_companies(company_key, [(r[0], r[1]) for r in rows], threshold=threshold, limit=5)
    return [{"lead_id": str(m.key), "company_key": m.name, "score": round(m.score, 1)} for m in matches]


@app.post("/api/v1/leads", status_code=status.HTTP_201_CREATED)
async def create_lead(body: LeadIn) -> LeadOut:
    phone = "+86" + body.phone
    async with pools["db"].acquire() as connection:
        if "user" in READS:
            await connection.fetchrow(USER, ORGANIZATION_ID)
        duplicates = await _possible_duplicates(connection, body.company) if "fuzzy" in READS else []
        lead_id, created_at = await insert_lead_rows(
            connection,
            ORGANIZATION_ID,
            name=body.name,
            company=body.company,
            phone=phone,
            possible_duplicates=json.dumps(duplicates),
        )
    return LeadOut(
        id=lead_id,
        name=body.name,
        company=body.company,
        phone=phone,
        possible_duplicates=duplicates,
        created_at=created_at,
    )
