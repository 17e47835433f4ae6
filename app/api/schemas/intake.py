"""Web forms (web-to-lead intake) as the API reads and writes them, and what a submission answers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import JsonInteger, ListPage, PatchModel, Record, name_of
from app.domain.leads.intake import MAX_SUBMITTED_FIELDS, MAX_SUBMITTED_VALUE
from app.domain.leads.leads import LeadSource

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
FormField = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-\[\]]+$")]
LeadField = Annotated[str, StringConstraints(min_length=1, max_length=80)]
FieldMapping = Annotated[
    dict[FormField, LeadField],
    Field(
        min_length=1,
        max_length=50,
        description=(
            "Form field name -> lead field: name, company, phone, email, wechat, region, product_line, "
            "industry, budget, notes, or custom_fields.<key> of a defined lead custom field. It must "
            "fill name and one of phone, email, wechat."
        ),
    ),
]
FormRateLimit = Annotated[
    int, Field(ge=1, le=10000, description="Submissions per minute to this form."), JsonInteger
]
ClientRateLimit = Annotated[
    int, Field(ge=1, le=1000, description="Submissions per minute from one client address."), JsonInteger
]
CaptchaUrl = Annotated[
    AnyHttpUrl,
    Field(
        description=(
            "The provider's siteverify URL (reCAPTCHA, hCaptcha, Turnstile): POSTed `secret`, "
            "`response` (the submission's captcha_token) and `remoteip`; it answers JSON `success`."
        )
    ),
]
CaptchaSecret = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    Field(description="The provider's secret; stored encrypted, never answered."),
]

_CREATE_EXAMPLE: dict[str, Any] = {
    "name": "官网询价表单",
    "source": "web_form",
    "campaign_id": None,
    "field_mapping": {"contact_name": "name", "mobile": "phone", "company": "company", "msg": "notes"},
    "honeypot_field": "website",
    "form_rate_limit": 60,
    "client_rate_limit": 5,
}


class IntakeFormCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    name: Name
    source: LeadSource = Field(default=LeadSource.web_form, description="The source of the form's leads.")
    campaign_id: uuid.UUID | None = Field(
        default=None,
        description="The campaign the form's leads are credited to (one of the organization's).",
    )
    field_mapping: FieldMapping
    honeypot_field: FormField | None = Field(
        default=None,
        description="A field hidden from people: a submission that fills it is answered 202 and dropped.",
    )
    form_rate_limit: FormRateLimit = 60
    client_rate_limit: ClientRateLimit = 5
    captcha_verify_url: CaptchaUrl | None = None
    captcha_secret: CaptchaSecret | None = None
    is_active: StrictBool = True

    def form_values(self) -> dict[str, Any]:
        values = self.model_dump()
        values["captcha_verify_url"] = str(self.captcha_verify_url) if self.captcha_verify_url else None
        return values


class IntakeFormUpdate(PatchModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_active": False}]})
    nullable_fields = frozenset({"campaign_id", "honeypot_field", "captcha_verify_url", "captcha_secret"})

    name: Name | SkipJsonSchema[None] = None
    source: LeadSource | SkipJsonSchema[None] = None
    campaign_id: uuid.UUID | None = None
    field_mapping: FieldMapping | SkipJsonSchema[None] = None
    honeypot_field: FormField | None = None
    form_rate_limit: FormRateLimit | SkipJsonSchema[None] = None
    client_rate_limit: ClientRateLimit | SkipJsonSchema[None] = None
    captcha_verify_url: CaptchaUrl | None = None
    captcha_secret: CaptchaSecret | None = None
    is_active: StrictBool | SkipJsonSchema[None] = None

    def form_changes(self) -> dict[str, Any]:
        changes = self.changes()
        if "captcha_verify_url" in changes:
            changes["captcha_verify_url"] = str(self.captcha_verify_url) if self.captcha_verify_url else None
        return changes


_FORM_EXAMPLE: dict[str, Any] = {
    "id": "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9",
    "version": 1,
    "created_at": "2026-12-07T02:00:00Z",
    "updated_at": "2026-12-07T02:00:00Z",
    **_CREATE_EXAMPLE,
    "key_prefix": "ifk_Q2x9bT0a",
    "captcha_verify_url": None,
    "has_captcha_secret": False,
    "is_active": True,
}


class IntakeFormOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_FORM_EXAMPLE]})

    name: str
    key_prefix: str = Field(description="The first characters of the form key, to tell keys apart.")
    source: LeadSource
    campaign_id: uuid.UUID | None
    campaign_name: str | None = name_of("campaign")
    field_mapping: dict[str, str]
    honeypot_field: str | None
    form_rate_limit: int
    client_rate_limit: int
    captcha_verify_url: str | None
    has_captcha_secret: bool
    is_active: bool


class IntakeFormCreated(IntakeFormOut):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{**_FORM_EXAMPLE, "key": "ifk_Q2x9bT0aVn3kLw8pRz5cYh1mJd4sEf7u"}]},
    )

    key: str | None = Field(
        description=(
            "The form key, shown only in this answer (null when it is replayed for the same "
            "Idempotency-Key): the form posts to /api/v1/intake/{key}. Only its hash is stored."
        )
    )


class IntakeFormPage(ListPage):
    items: list[IntakeFormOut]


class IntakeAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "accepted"}]})

    status: Literal["accepted"] = Field(
        description="The same for a new lead, a duplicate and a dropped bot submission."
    )


SUBMISSION_SCHEMA: dict[str, Any] = {
    "title": "IntakeSubmission",
    "type": "object",
    "description": (
        "The form's fields as the page posts them; the form's field_mapping says which become the "
        "lead's. `captcha_token` carries the captcha provider's token when the form checks one."
    ),
    "maxProperties": MAX_SUBMITTED_FIELDS,
    "additionalProperties": {
        "anyOf": [
            {"type": "string", "maxLength": MAX_SUBMITTED_VALUE},
            {"type": "number"},
            {"type": "boolean"},
        ]
    },
    "examples": [{"contact_name": "张伟", "mobile": "13800138000", "company": "申华建材", "website": ""}],
}
