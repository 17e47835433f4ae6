"""/search: one box that finds leads, customers, contacts and opportunities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import CurrentPrincipal, SessionDep
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.search import SearchHitOut, SearchResultOut
from app.domain.identity.principal import Principal
from app.domain.platform.search import SearchType
from app.services.search import search

router = APIRouter(prefix=f"{API_V1}/search", tags=["search"])


async def _may_search(principal: CurrentPrincipal) -> Principal:
    """403 before anything else for a caller who may read none of the kinds searched."""
    search.searchable_types(principal, None)
    return principal


CanSearch = Annotated[Principal, Depends(_may_search)]


@router.get("", response_model=SearchResultOut, responses=problem_responses(401, 403, 422))
async def search_records(
    session: SessionDep,
    actor: CanSearch,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"\S",
            description="A name or part of one, a customer code, an e-mail, or a phone number typed "
            "any way (`138 0013 8000`, `138-0013-8000`, `+86 138 0013 8000`).",
        ),
    ],
    types: Annotated[
        list[SearchType] | None,
        Query(max_length=4, description="Kinds of record to search; default all the caller may read."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT, description="Hits, at most 50.")] = 20,
) -> SearchResultOut:
    """Leads, customers, contacts and opportunities the caller may see (a rep: his own and the
    pool's leads, his customers with their contacts, his deals), merged or deleted ones left out;
    ranked: an exact customer code, phone or e-mail first, then names that start with the text,
    then the text anywhere in the name, a lead's company, a customer's code or a phone number.
    Kinds the caller's role may not read are skipped; 403 when none is left."""
    hits = await search.search_records(session, actor=actor, text=q, types=types, limit=limit)
    return SearchResultOut(items=[SearchHitOut.model_validate(hit) for hit in hits])
