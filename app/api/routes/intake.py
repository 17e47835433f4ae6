"""/intake-forms: the web forms marketing runs; POST /intake/{form_key}: a web page's submission,
with no user token, that becomes a lead (web-to-lead intake, issue 21 point 1)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from app.api.client_address import client_address
from app.api.deps import (
    ETAG_HEADER,
    CreatedSort,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    RuntimeDep,
    SessionDep,
    etag_for,
    replay_without_secret,
    require,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.intake import (
    SUBMISSION_SCHEMA,
    IntakeAccepted,
    IntakeFormCreate,
    IntakeFormCreated,
    IntakeFormOut,
    IntakeFormPage,
    IntakeFormUpdate,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.leads.intake import MAX_SUBMITTED_FIELDS, MAX_SUBMITTED_VALUE
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.leads import intake
from app.services.platform.unit_of_work import session_scope

router = APIRouter(prefix=API_V1, tags=["intake"])

CanManage = Annotated[Principal, Depends(require(Permission.intake_forms_manage))]
FormKey = Annotated[str, Path(min_length=1, max_length=100, description="The form's secret key.")]
_SUBMISSION_BODY: dict[str, Any] = {
    # Web pages post without a user: the form key in the path is the credential.
    "security": [],
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": SUBMISSION_SCHEMA},
            "application/json": {"schema": SUBMISSION_SCHEMA},
        },
    },
}


async def _with_key_once(
    session: AsyncSession, actor: Principal, request: Request, created: intake.FormWithKey
) -> IntakeFormCreated:
    answer = IntakeFormCreated.model_validate(
        {**IntakeFormOut.model_validate(created.form).model_dump(), "key": created.key}
    )
    answer = await with_name(session, actor, answer)
    replay_without_secret(request, answer.model_copy(update={"key": None}))
    return answer


@router.post(
    "/intake-forms",
    status_code=status.HTTP_201_CREATED,
    response_model=IntakeFormCreated,
    responses=problem_responses(401, 403, 413, 422),
    dependencies=[Idempotent],
)
async def create_intake_form(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanManage,
    body: IntakeFormCreate,
    request: Request,
    response: Response,
) -> IntakeFormCreated:
    """The form key is in this answer only; the page posts to /api/v1/intake/{key}. A mapping to a
    lead field that does not exist answers 422 intake.mapping_invalid."""
    created = await intake.create_form(
        session, actor=actor, values=body.form_values(), allow_private=runtime.settings.webhook_allow_private
    )
    response.headers["ETag"] = etag_for(created.form.version)
    response.headers["Location"] = f"{API_V1}/intake-forms/{created.form.id}"
    return await _with_key_once(session, actor, request, created)


@router.get("/intake-forms", response_model=IntakeFormPage, responses=problem_responses(401, 403, 422))
async def list_intake_forms(
    session: SessionDep,
    actor: CanManage,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: CreatedSort = "created_at",
) -> IntakeFormPage:
    page = await intake.list_forms(
        session, actor=actor, limit=limit, cursor=cursor, options=options, sort=sort
    )
    return IntakeFormPage.of(
        page, await with_names(session, actor, [IntakeFormOut.model_validate(f) for f in page.items])
    )


@router.get(
    "/intake-forms/{intake_form_id:uuid}",
    response_model=IntakeFormOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_intake_form(
    session: SessionDep, actor: CanManage, intake_form_id: uuid.UUID, response: Response
) -> IntakeFormOut:
    form = await intake.get_form(session, actor=actor, form_id=intake_form_id)
    response.headers["ETag"] = etag_for(form.version)
    return await with_name(session, actor, IntakeFormOut.model_validate(form))


@router.patch(
    "/intake-forms/{intake_form_id:uuid}",
    response_model=IntakeFormOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 412, 413, 422)},
)
async def update_intake_form(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanManage,
    intake_form_id: uuid.UUID,
    body: IntakeFormUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> IntakeFormOut:
    """`is_active: false` stops the form taking submissions (its key answers 404) until set true."""
    form = await intake.update_form(
        session,
        actor=actor,
        form_id=intake_form_id,
        changes=body.form_changes(),
        expected_version=expected_version,
        allow_private=runtime.settings.webhook_allow_private,
    )
    response.headers["ETag"] = etag_for(form.version)
    return await with_name(session, actor, IntakeFormOut.model_validate(form))


@router.delete(
    "/intake-forms/{intake_form_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_intake_form(session: SessionDep, actor: CanManage, intake_form_id: uuid.UUID) -> None:
    """The key stops working; the leads the form brought in stay."""
    await intake.delete_form(session, actor=actor, form_id=intake_form_id)


@router.post(
    "/intake-forms/{intake_form_id:uuid}/rotate-key",
    response_model=IntakeFormCreated,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
    dependencies=[Idempotent],
)
async def rotate_intake_form_key(
    session: SessionDep, actor: CanManage, intake_form_id: uuid.UUID, request: Request, response: Response
) -> IntakeFormCreated:
    """A new form key, in this answer only; the old key answers 404 from now on."""
    rotated = await intake.rotate_key(session, actor=actor, form_id=intake_form_id)
    response.headers["ETag"] = etag_for(rotated.form.version)
    return await _with_key_once(session, actor, request, rotated)


@router.post(
    "/intake/{form_key}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntakeAccepted,
    responses=problem_responses(403, 404, 409, 413, 422, 429, 503),
    summary="Submit a web form: the lead goes through de-duplication, assignment and SLA",
    openapi_extra=_SUBMISSION_BODY,
)
async def submit_intake_form(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, form_key: FormKey
) -> IntakeAccepted:
    """No user token: the key names the form. 202 `{"status": "accepted"}` alike for a new lead, a
    duplicate (merged into the existing lead as a note) and a filled honeypot (dropped). 404 for an
    unknown or inactive key, 429 with Retry-After past the form's per-minute limits, 403
    intake.captcha_failed when the form checks a captcha and the token does not pass, 422 naming the
    form fields that do not fit the lead; 409 only when a concurrent change got in the way (retry)."""
    client = client_address(request, runtime.settings.trusted_proxies)
    # Counted and committed before the submission is read, as sign-in attempts are: concurrent
    # submissions cannot all pass the limit.
    async with session_scope(runtime.sessionmaker, runtime.queue) as own_session:
        form_id = await intake.admit_submission(own_session, key=form_key, client=client, now=now)
    fields = await _submitted_fields(request)
    await intake.submit(
        session,
        form_id=form_id,
        submission=intake.Submission(fields=fields, client=client),
        now=now,
        allow_private=runtime.settings.webhook_allow_private,
    )
    return IntakeAccepted(status="accepted")


def _refused(detail: str, field: str = "body") -> InvalidInput:
    return InvalidInput(detail, code="intake.body_invalid", errors=[FieldError(field, "invalid", detail)])


async def _submitted_fields(request: Request) -> dict[str, str]:
    """A form post (url-encoded or multipart; files are ignored) or a JSON object, as text fields."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    raw: dict[str, Any]
    if media_type == "application/json":
        try:
            raw = json.loads(await request.body())
        except ValueError as exc:
            raise _refused("The body is not JSON.") from exc
        if not isinstance(raw, dict):
            raise _refused("The body must be a JSON object of fields.")
    elif media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_fields=MAX_SUBMITTED_FIELDS + 1, max_files=MAX_SUBMITTED_FIELDS)
        raw = {name: value for name, value in form.items() if not isinstance(value, UploadFile)}
    else:
        raise _refused("Send the form url-encoded, as multipart/form-data or as a JSON object.")
    if len(raw) > MAX_SUBMITTED_FIELDS:
        raise _refused(f"At most {MAX_SUBMITTED_FIELDS} fields.")
    fields: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, dict | list) or value is None:
            raise _refused("A field is text, a number or true/false.", name[:64])
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_SUBMITTED_VALUE:
            raise _refused(f"At most {MAX_SUBMITTED_VALUE} characters.", name[:64])
        fields[name] = text
    return fields
