"""Users as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import ListPage, PatchModel, Record, Timestamp
from app.domain.identity.permissions import Role

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$"
    ),
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
# WeCom's own rule for a member's account (账号): 1-64 letters, digits, "_", "-", "." or "@".
WecomUserid = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
]
_WECOM_USERID_DESCRIPTION = "The user's account (userid) in the organization's WeCom: where app messages go."
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[0-9+() -]+$")
]

_USER_EXAMPLE: dict[str, Any] = {
    "id": "5b0f4c5e-2a7d-4b7e-9f8a-2c1d3e4f5a6b",
    "version": 1,
    "created_at": "2026-11-22T08:00:00Z",
    "updated_at": "2026-11-22T08:00:00Z",
    "username": "wang.fang",
    "display_name": "王芳",
    "email": "wang.fang@example.com",
    "phone": "+86 138 0013 8000",
    "role": "rep",
    "is_active": True,
    "is_available": True,
    "unavailable_until": None,
    "last_login_at": None,
    "wecom_userid": "WangFang",
}


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"username": "wang.fang", "display_name": "王芳", "password": "s3cure-pass", "role": "rep"}
            ]
        },
    )

    id: uuid.UUID | None = Field(default=None, description="Optional client-chosen id (offline sync).")
    username: Username
    display_name: DisplayName
    password: Password
    role: Role
    email: EmailStr | None = None
    phone: Phone | None = None
    wecom_userid: WecomUserid | None = Field(default=None, description=_WECOM_USERID_DESCRIPTION)


class UserUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "supervisor", "is_available": False}]})
    nullable_fields = frozenset({"email", "phone", "unavailable_until", "wecom_userid"})

    display_name: DisplayName | SkipJsonSchema[None] = None
    password: Password | SkipJsonSchema[None] = None
    role: Role | SkipJsonSchema[None] = None
    email: EmailStr | None = None
    phone: Phone | None = None
    is_active: StrictBool | SkipJsonSchema[None] = None
    is_available: StrictBool | SkipJsonSchema[None] = Field(
        default=None, description="False while on leave: assignment skips the user."
    )
    unavailable_until: Timestamp | None = Field(
        default=None, description="Leave or off shift: automatic assignment skips the user before this."
    )
    wecom_userid: WecomUserid | None = Field(default=None, description=_WECOM_USERID_DESCRIPTION)


class UserOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_USER_EXAMPLE]})

    username: str
    display_name: str
    email: str | None
    phone: str | None
    role: Role
    is_active: bool
    is_available: bool
    unavailable_until: datetime | None
    last_login_at: datetime | None
    wecom_userid: str | None = Field(description=_WECOM_USERID_DESCRIPTION)


class UserPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_USER_EXAMPLE], "next_cursor": None}]}
    )

    items: list[UserOut]
