"""/organization: the caller's tenant and its settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from app.api.deps import ETAG_HEADER, ExpectedVersion, SessionDep, require, with_etag
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.organization import OrganizationOut, OrganizationUpdate
from app.api.schemas.wecom import WecomAppIn, WecomAppOut
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services import organizations
from app.services.identity import wecom

router = APIRouter(prefix=f"{API_V1}/organization", tags=["organization"])

CanRead = Annotated[Principal, Depends(require(Permission.organization_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.organization_write))]


@router.get(
    "",
    response_model=OrganizationOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403)},
)
async def get_organization(session: SessionDep, actor: CanRead, response: Response) -> OrganizationOut:
    """The organization, with every setting's effective value (its default where none was set)."""
    organization = await organizations.get_organization(session, actor=actor)
    return with_etag(response, OrganizationOut.model_validate(organization))


@router.patch(
    "",
    response_model=OrganizationOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 409, 412, 413, 422)},
)
async def update_organization(
    session: SessionDep,
    actor: CanWrite,
    body: OrganizationUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> OrganizationOut:
    """Changes the name, time zone, currency, locale or settings. Only a role holding
    `organization:write` may (the admin; directors, supervisors, reps, marketing and API keys get
    403). `settings` is a JSON Merge Patch (RFC 7396): the keys named change, a null returns a key
    to its default, the rest stay; an unknown key or an unusable value answers 422 naming it
    (`settings.lead_pool.idle_days`) and changes nothing."""
    organization = await organizations.update_organization(
        session, actor=actor, changes=body.changes(), expected_version=expected_version
    )
    return with_etag(response, OrganizationOut.model_validate(organization))


@router.get("/wecom", response_model=WecomAppOut, responses=problem_responses(401, 403, 409))
async def get_wecom_app(session: SessionDep, actor: CanWrite) -> WecomAppOut:
    """The organization's WeCom app for sign-in and the JS-SDK, without its secret."""
    return WecomAppOut.model_validate(await wecom.get_wecom_app(session, actor=actor))


@router.put("/wecom", response_model=WecomAppOut, responses=problem_responses(401, 403, 409, 413, 422))
async def put_wecom_app(session: SessionDep, actor: CanWrite, body: WecomAppIn) -> WecomAppOut:
    """Sets the WeCom self-built app its people sign in through (POST /auth/wecom); the secret is
    stored encrypted and never answered."""
    app = await wecom.put_wecom_app(
        session, actor=actor, corp_id=body.corp_id, agent_id=body.agent_id, secret=body.secret
    )
    return WecomAppOut.model_validate(app)
