"""The webhooks the API sends, in the OpenAPI document (3.1 `webhooks`): one message schema per
event type, derived from the event registry, so a generated client types each payload."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import TypeAdapter

from app.domain.notifications.events import Event, registered_events

_SCHEMAS = "#/components/schemas/{model}"
_HEADERS = {
    "webhook-id": "The event's id, the same on every retry and replay: drop one you have seen.",
    "webhook-timestamp": "When this attempt was signed, in Unix seconds; refuse one far from your clock.",
    "webhook-signature": (
        "`v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}` with the subscription's "
        "secret (Standard Webhooks); during a secret rotation two signatures, space-separated."
    ),
}


def add_webhooks(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    webhooks = schema.setdefault("webhooks", {})
    for event in registered_events():
        message = f"{event.__name__}Message"
        components[message] = _message_schema(event.topic, _data_schema(event))
        webhooks[event.topic] = {"post": _operation(event.topic, inspect.getdoc(event) or "", message)}


def _data_schema(event: type[Event]) -> dict[str, Any]:
    data = TypeAdapter(event).json_schema(mode="serialization", ref_template=_SCHEMAS)
    data["properties"].pop("notify_user_ids")  # for in-app notifications; webhooks never carry it
    data["title"] = f"{event.__name__}Data"
    data.pop("description", None)
    return data


def _message_schema(topic: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "timestamp", "sequence", "data"],
        "properties": {
            "type": {"type": "string", "const": topic},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When the event happened (not when this attempt was made).",
            },
            "sequence": {
                "type": "integer",
                "minimum": 0,
                "description": (
                    "Numbers this subscription's messages in the order their events were handed to it; "
                    "retries and replays keep their number, so a receiver can put late arrivals in order. "
                    "Numbers rise but may skip; 0 marks a message recorded before numbering began."
                ),
            },
            "data": data,
        },
    }


def _operation(topic: str, description: str, message: str) -> dict[str, Any]:
    return {
        "operationId": f"webhook_{topic.replace('.', '_')}",
        "summary": topic,
        "description": description,
        "tags": ["webhooks"],
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in _HEADERS.items()
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _SCHEMAS.format(model=message)}}},
        },
        "responses": {
            "2XX": {"description": "Delivered."},
            "410": {"description": "Gone: the subscription is disabled and gets nothing more."},
            "default": {"description": "Retried with backoff (408, 425, 429, 5xx) or given up (other 4xx)."},
        },
    }
