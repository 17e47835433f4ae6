"""Sign-in bodies (password, WeCom code, refresh token) and the token answer they share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_REFRESH_EXAMPLE = "rt_Jx3mP0-9eXampleOfARefreshTokenQk7vN2c"


class TokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIs...",
                    "token_type": "bearer",
                    "expires_in": 28800,
                    "refresh_token": _REFRESH_EXAMPLE,
                    "refresh_expires_in": 2592000,
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_token: str = Field(
        description="Used once with POST /auth/refresh for the next pair; keep it as secret as a password."
    )
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid.")


class PasswordSignIn(BaseModel):
    """The password sign-in as JSON; the same fields as the OAuth2 form."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"username": "wangfang", "password": "s3cret-pass"}]}
    )

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class RefreshIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"refresh_token": _REFRESH_EXAMPLE}]}
    )

    refresh_token: str = Field(min_length=1, max_length=200)


class WecomSignIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"code": "CODE_FROM_WECOM_OAUTH", "organization": "acme-building"}]},
    )

    code: str = Field(
        min_length=1,
        max_length=512,
        description="The `code` WeCom's web authorization (OAuth2 redirect) gave the H5 page; used once, "
        "valid five minutes.",
    )
    organization: str = Field(
        min_length=1,
        max_length=64,
        description="The organization's slug (or id) whose WeCom app the page runs in.",
    )
