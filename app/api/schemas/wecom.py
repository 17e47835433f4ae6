"""The organization's WeCom app (the secret is write-only) and the JS-SDK config an H5 page signs with."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import JsonInteger
from app.api.schemas.notification_channels import CorpId, Secret

_APP_EXAMPLE: dict[str, Any] = {"corp_id": "ww4f1c2e3d4b5a6978", "agent_id": 1000002}


class WecomAppIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{**_APP_EXAMPLE, "secret": "Xq8v_app-secret-from-wecom-console"}]},
    )

    corp_id: CorpId = Field(description="企业ID (CorpID), from My Company in the WeCom admin console.")
    agent_id: Annotated[int, JsonInteger] = Field(
        ge=1, le=2**31 - 1, description="The self-built app's AgentId (应用管理 → 自建应用)."
    )
    secret: Secret = Field(description="The app's Secret. Write-only: stored encrypted, never answered.")


class WecomAppOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{**_APP_EXAMPLE, "updated_at": "2026-12-07T05:00:00Z"}]},
    )

    corp_id: str
    agent_id: int
    updated_at: datetime


class JsapiSignatureOut(BaseModel):
    """The fields of `wx.config` / `ww.config`: appId = corp_id, timestamp, nonceStr = nonce_str,
    signature."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_APP_EXAMPLE,
                    "timestamp": 1414587457,
                    "nonce_str": "Wm3WZYTPz0wzccnW",
                    "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed",
                }
            ]
        },
    )

    corp_id: str = Field(description="The config's appId.")
    agent_id: int = Field(description="For `agentConfig`, when the page uses app-level interfaces.")
    timestamp: int = Field(description="Seconds since the epoch, as signed.")
    nonce_str: str = Field(description="The config's nonceStr, as signed.")
    signature: str = Field(description="sha1 hex of jsapi_ticket, noncestr, timestamp and url.")
