"""/contacts/{id}: deleting, restoring and erasing one contact (they are listed and created under
their customer, /customers/{id}/contacts)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.api.deps import Idempotent, NowDep, SessionDep, require
from app.api.display_names import with_name
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.customers import ContactOut
from app.api.schemas.personal_data import ErasureIn
from app.domain.permissions import Permission
from app.domain.principal import Principal
from app.services import deletion, personal_data

router = APIRouter(prefix=f"{API_V1}/contacts", tags=["customers"])

CanDelete = Annotated[Principal, Depends(require(Permission.records_delete))]
CanErase = Annotated[Principal, Depends(require(Permission.personal_data_manage))]


@router.delete(
    "/{contact_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_contact(session: SessionDep, actor: CanDelete, now: NowDep, contact_id: uuid.UUID) -> None:
    """Soft delete: the contact leaves its customer's list and de-duplication; `POST .../restore`
    brings it back. Whoever may delete the contact's customer may delete it."""
    await deletion.delete_record(session, actor=actor, entity="contact", record_id=contact_id, now=now)


@router.post(
    "/{contact_id:uuid}/restore",
    response_model=ContactOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[Idempotent],
)
async def restore_contact(session: SessionDep, actor: CanDelete, contact_id: uuid.UUID) -> ContactOut:
    """Brings a deleted contact back; 409 `contact.not_deleted` for one that is not deleted."""
    contact = await deletion.restore_record(session, actor=actor, entity="contact", record_id=contact_id)
    return await with_name(session, actor, ContactOut.model_validate(contact))


@router.post(
    "/{contact_id:uuid}/erase",
    response_model=ContactOut,
    responses=problem_responses(401, 403, 404, 413, 422),
    dependencies=[Idempotent],
)
async def erase_contact(
    session: SessionDep, actor: CanErase, now: NowDep, contact_id: uuid.UUID, body: ErasureIn
) -> ContactOut:
    """Erases the person's data (PIPL), irreversibly: name becomes "erased"; title, phone, e-mail
    and WeChat id are emptied, also in the contact's audit rows. Admin only."""
    contact = await personal_data.erase_contact(
        session, actor=actor, contact_id=contact_id, reason=body.reason, now=now
    )
    return await with_name(session, actor, ContactOut.model_validate(contact))
