"""/people/export: everything stored about one person, for a PIPL access request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import NowDep, SessionDep, require
from app.api.display_names import with_name
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.routes.activities import activity_out
from app.api.routes.leads import leads_out
from app.api.schemas.customers import ContactOut
from app.api.schemas.personal_data import EngagementRecordOut, PersonExportOut
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.privacy import personal_data

router = APIRouter(prefix=f"{API_V1}/people", tags=["personal data"])

CanExport = Annotated[Principal, Depends(require(Permission.personal_data_manage))]


@router.get("/export", response_model=PersonExportOut, responses=problem_responses(401, 403, 422))
async def export_person_data(
    session: SessionDep,
    actor: CanExport,
    now: NowDep,
    phone: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    email: Annotated[str | None, Query(min_length=1, max_length=254)] = None,
) -> PersonExportOut:
    """Everything stored about the person with this phone number or e-mail (give one or both):
    leads, contacts, activities on those leads or mentioning them, engagement events; deleted
    records included (listed in `deleted_ids`). 422 names `phone` when neither is given. Admin only."""
    found = await personal_data.export_person(session, actor=actor, phone=phone, email=email)
    export = PersonExportOut(
        phone=found.phone,
        email=found.email,
        generated_at=now,
        leads=await leads_out(session, actor, now, found.leads),
        contacts=[ContactOut.model_validate(contact) for contact in found.contacts],
        activities=[activity_out(activity) for activity in found.activities],
        engagement_events=[EngagementRecordOut.model_validate(event) for event in found.engagement_events],
        deleted_ids=found.deleted_ids,
    )
    return await with_name(session, actor, export)
