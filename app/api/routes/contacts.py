"""/contacts: every contact the caller may see, one contact read, edited, deleted, restored and
erased (they are created under their customer, /customers/{id}/contacts)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.deps import (
    ETAG_HEADER,
    SORT_BY_CHANGE,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    SessionDep,
    etag_for,
    require,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.list_filters import CreatedPeriod, owners_query
from app.api.routes import API_V1
from app.api.schemas.customers import ContactOut, ContactPage, ContactUpdate
from app.api.schemas.personal_data import ErasureIn
from app.domain.customers.contacts import BuyingRole
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.customers import contacts
from app.services.privacy import deletion, personal_data

router = APIRouter(prefix=f"{API_V1}/contacts", tags=["customers"])

CanRead = Annotated[Principal, Depends(require(Permission.customers_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.customers_write))]
CanDelete = Annotated[Principal, Depends(require(Permission.records_delete))]
CanErase = Annotated[Principal, Depends(require(Permission.personal_data_manage))]


@router.get("", response_model=ContactPage, responses=problem_responses(401, 403, 422))
async def list_all_contacts(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    created: CreatedPeriod,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(name|created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "-created_at",
    customer_id: Annotated[list[uuid.UUID] | None, Query(max_length=50)] = None,
    owner_id: Annotated[
        list[uuid.UUID] | None, owners_query("owner_id", "The customer is owned by this user")
    ] = None,
    team_id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=20, description="The customer's owner is in this team; repeat for any of several."),
    ] = None,
    buying_role: Annotated[list[BuyingRole] | None, Query(max_length=5)] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Part of the name or e-mail, or of the phone number typed any way "
            "(`138 0013 8000`, `138-0013-8000`, `+86 138...`).",
        ),
    ] = None,
) -> ContactPage:
    """The contacts of every customer the caller may see (a rep: his customers'; a supervisor: his
    teams'; a director or admin: the organization's). Contacts of merged or deleted customers are
    left out."""
    page = await contacts.list_contacts(
        session,
        actor=actor,
        limit=limit,
        cursor=cursor,
        sort=sort,
        customer_id=customer_id,
        owner_id=owner_id,
        team_id=team_id,
        buying_role=buying_role,
        q=q,
        created=created,
        options=options,
    )
    return ContactPage.of(
        page, await with_names(session, actor, [ContactOut.model_validate(c) for c in page.items])
    )


@router.get(
    "/{contact_id:uuid}",
    response_model=ContactOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_contact(
    session: SessionDep, actor: CanRead, contact_id: uuid.UUID, response: Response
) -> ContactOut:
    """A contact of a customer the caller may see; any other answers 404."""
    contact = await contacts.get_contact(session, actor=actor, contact_id=contact_id)
    response.headers["ETag"] = etag_for(contact.version)
    return await with_name(session, actor, ContactOut.model_validate(contact))


@router.patch(
    "/{contact_id:uuid}",
    response_model=ContactOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_contact(
    session: SessionDep,
    actor: CanWrite,
    contact_id: uuid.UUID,
    body: ContactUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> ContactOut:
    """Edits a contact (If-Match with its ETag: 412 when it moved on). Phone and e-mail are
    normalised as on creation; `buying_role` places the contact in its customer's decision chain.
    409 `contact.erased` for a contact whose personal data was erased."""
    contact = await contacts.update_contact(
        session, actor=actor, contact_id=contact_id, changes=body.changes(), expected_version=expected_version
    )
    response.headers["ETag"] = etag_for(contact.version)
    return await with_name(session, actor, ContactOut.model_validate(contact))


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
    """Erases the person's data (PIPL), irreversibly: name becomes "erased"; title, phone, e-mail,
    WeChat id and role note are emptied, also in the contact's audit rows. Admin only."""
    contact = await personal_data.erase_contact(
        session, actor=actor, contact_id=contact_id, reason=body.reason, now=now
    )
    return await with_name(session, actor, ContactOut.model_validate(contact))
