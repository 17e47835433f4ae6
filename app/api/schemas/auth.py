"""Token answer of the OAuth2 password flow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class TokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"access_token": "eyJhbGciOiJIUzI1NiIs...", "token_type": "bearer", "expires_in": 28800}
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
