"""Notification channels as the API reads and writes them: the secrets in `config` are write-only."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import JsonInteger, ListPage, PatchModel, Record
from app.api.schemas.webhooks import EventTypes
from app.domain.models import NotificationChannel
from app.domain.notifications.channels import ALL_EVENTS, ChannelKind, public_config, secret_hints
from app.domain.notifications.notifications import MESSAGE_TOPICS

# A channel posts a human message, so it takes only the topics that have one (or "*").
ChannelEventTypes = Annotated[
    EventTypes,
    WithJsonSchema(
        {
            "type": "array",
            "items": {"enum": sorted({ALL_EVENTS, *MESSAGE_TOPICS})},
            "minItems": 1,
            "maxItems": 50,
        }
    ),
]
ChannelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Keys, tokens and secrets go into URLs and signatures as they are: printable ASCII, no spaces.
CorpId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Secret = Annotated[str, StringConstraints(min_length=8, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class WecomRobotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[ChannelKind] = ChannelKind.wecom_robot

    key: Secret = Field(
        description="The `key` of the robot's webhook address (群机器人 Webhook). Write-only."
    )


class WecomAppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[ChannelKind] = ChannelKind.wecom_app

    corp_id: CorpId = Field(description="企业ID (CorpID), from My Company in the WeCom admin console.")
    secret: Secret = Field(description="The application's Secret. Write-only.")
    agent_id: Annotated[int, JsonInteger] = Field(
        ge=1, le=2**31 - 1, description="The application's AgentId."
    )


class DingtalkRobotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[ChannelKind] = ChannelKind.dingtalk_robot

    access_token: Secret = Field(description="The `access_token` of the robot's Webhook address. Write-only.")
    secret: Secret | None = Field(
        default=None, description="The 加签 secret (SEC…), when the robot uses signing. Write-only."
    )


ChannelConfig = WecomRobotConfig | WecomAppConfig | DingtalkRobotConfig


class _ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ChannelName = Field(description="For people reading the list, e.g. the group's name.")
    event_types: ChannelEventTypes = Field(
        description='Event types to post, or ["*"] for all that have a message.'
    )


class WecomRobotChannelCreate(_ChannelCreate):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "华东销售群",
                    "kind": "wecom_robot",
                    "config": {"key": "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"},
                    "event_types": ["lead.assigned", "sla.breached", "opportunity.won"],
                }
            ]
        }
    )

    kind: Literal["wecom_robot"]
    config: WecomRobotConfig


class WecomAppChannelCreate(_ChannelCreate):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "销售助手",
                    "kind": "wecom_app",
                    "config": {
                        "corp_id": "ww1234567890abcdef",
                        "secret": "3FkqZ8pW0vYt1Lr9Qk3x",
                        "agent_id": 1000002,
                    },
                    "event_types": ["lead.assigned", "sla.warned", "sla.escalated"],
                }
            ]
        }
    )

    kind: Literal["wecom_app"]
    config: WecomAppConfig


class DingtalkRobotChannelCreate(_ChannelCreate):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "华南销售群",
                    "kind": "dingtalk_robot",
                    "config": {
                        "access_token": "4b1c9f0e2d7a6b5c8e3f1a0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1ce9",
                        "secret": "SEC6a8f3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4",
                    },
                    "event_types": ["*"],
                }
            ]
        }
    )

    kind: Literal["dingtalk_robot"]
    config: DingtalkRobotConfig


NotificationChannelCreate = Annotated[
    WecomRobotChannelCreate | WecomAppChannelCreate | DingtalkRobotChannelCreate, Field(discriminator="kind")
]


class NotificationChannelUpdate(PatchModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"event_types": ["sla.breached"]}, {"is_active": True}]},
    )

    name: ChannelName | SkipJsonSchema[None] = None
    event_types: ChannelEventTypes | SkipJsonSchema[None] = None
    is_active: StrictBool | SkipJsonSchema[None] = None
    config: ChannelConfig | SkipJsonSchema[None] = Field(
        default=None,
        description="Replaces the whole configuration, secrets included; of the channel's kind.",
    )

    def channel_changes(self) -> dict[str, Any]:
        return {name: value for name, value in self.changes().items() if name != "config"}

    def config_change(self) -> tuple[ChannelKind, dict[str, Any]] | None:
        if self.config is None:
            return None
        return self.config.kind, self.config.model_dump(exclude_none=True)


_CHANNEL_EXAMPLE: dict[str, Any] = {
    "id": "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a",
    "version": 1,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:00Z",
    "name": "销售助手",
    "kind": "wecom_app",
    "event_types": ["lead.assigned", "sla.warned"],
    "config": {"corp_id": "ww1234567890abcdef", "agent_id": 1000002},
    "secret_hints": {"secret": "…Qk3x"},
    "is_active": True,
    "disabled_reason": None,
}


class NotificationChannelOut(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [_CHANNEL_EXAMPLE]})

    name: str
    kind: ChannelKind
    event_types: list[str]
    config: dict[str, Any] = Field(description="The configuration without its secrets.")
    secret_hints: dict[str, str] = Field(
        description="The last characters of each secret that is set, to tell which one it is."
    )
    is_active: bool
    disabled_reason: str | None = Field(description="Why it was disabled, e.g. the receiver answered 410.")

    @classmethod
    def of(cls, channel: NotificationChannel) -> NotificationChannelOut:
        """Built field by field: validating the entity would copy its secrets into the answer."""
        return cls(
            id=channel.id,
            version=channel.version,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
            name=channel.name,
            kind=channel.kind,
            event_types=channel.event_types,
            config=public_config(channel.kind, channel.config),
            secret_hints=secret_hints(channel.kind, channel.config),
            is_active=channel.is_active,
            disabled_reason=channel.disabled_reason,
        )


class NotificationChannelPage(ListPage):
    items: list[NotificationChannelOut]
