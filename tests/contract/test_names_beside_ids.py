"""Names beside ids (issue 19, point 4): every id an answer shows that points at a record a screen
names (a user, team, customer, lead, opportunity, contact, campaign, stage, pipeline, product,
playbook entry ...) comes with its display name, one convention everywhere: `<x>_name` beside
`<x>_id`, and `<x>_names` (same order) beside a list `<x>_ids`."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from app.main import create_app

# Ids that are not references to a named record, wherever they appear.
NOT_REFERENCES: dict[str, str] = {
    "request_id": "the request's trace id, for support",
    "client_id": "the id a client gave its own offline write, to dedupe retries",
    "external_id": "another system's id for the record",
    "event_id": "a delivery's or engagement's event id, for deduplication by the receiver",
    "change_id": "the changes feed's own position",
    "corp_id": "WeCom's corporation id",
    "agent_id": "WeCom's application id",
    "wechat_id": "a contact's WeChat account, a value rather than a reference",
}

# (schema, property) pairs deliberately without a name, each with the reason.
NO_NAME: dict[tuple[str, str], str] = {
    # The record's name is already the row's own `name`: the row is about that record.
    ("CandidateOut", "user_id"): "a candidate rep; `name` is theirs",
    ("CustomerMatchOut", "customer_id"): "the matched customer; `name` is its name",
    ("StaleRow", "subject_id"): "the stale lead or customer; `name` is its name",
    ("StatusBoardItemOut", "subject_id"): "the opportunity or customer on the board; `name` is its name",
    # Records that have no display name: a screen links them, it does not label them.
    ("PlaybookEntryOut", "activity_id"): "activities have no name",
    ("PlaybookUseOut", "activity_id"): "activities have no name",
    ("TaskOut", "completed_activity_id"): "activities have no name",
    (
        "AttachmentOut",
        "parent_id",
    ): "the parent (maybe an activity: no name) shows it",
    ("ActivityOut", "attachment_ids"): "attachments carry their filename in their own answer",
    # Records of any kind, deleted ones included, that a client syncs or audits by id.
    ("ChangeOut", "entity_id"): "the changes feed lists ids, deleted ones too; the client has the record",
    ("AuditEventOut", "entity_id"): "any kind of record, deleted ones too; `before`/`after` carry its fields",
    ("PersonExportOut", "deleted_ids"): "records already deleted: no name is left to show",
    ("CustomerMergeOut", "duplicate_id"): "the merge deletes the duplicate: no name is left to show",
    ("LeadMergeOut", "duplicate_id"): "the merge deletes the duplicate: no name is left to show",
    # A possible duplicate may be a record the caller may not see; its name is not given away.
    ("PossibleDuplicate", "lead_id"): "possibly invisible to the caller",
    ("PossibleDuplicateOut", "customer_id"): "possibly invisible to the caller",
    # An engagement key matches events by phone or e-mail; names would let a write-only key read who
    # a number belongs to.
    ("EngagementResult", "lead_id"): "answered to a key that may not read leads",
    ("EngagementResult", "contact_id"): "answered to a key that may not read contacts",
    ("EngagementResult", "customer_id"): "answered to a key that may not read customers",
    # The record the path names: the screen that asks has it open.
    ("ContactTimesOut", "customer_id"): "GET /customers/{id}/contact-times",
    ("CustomerHealthOut", "customer_id"): "GET /customers/{id}/health",
    ("CustomerHealthHistoryOut", "customer_id"): "GET /customers/{id}/health/history",
    ("WinProbabilityOut", "opportunity_id"): "GET /opportunities/{id}/win-probability",
    ("NextActionsOut", "opportunity_id"): "GET /opportunities/{id}/next-actions",
    # Echoes of what the caller sent, which the caller already names.
    ("KpiParams", "team_id"): "the request's own filter; KPI rows name their dimensions",
    ("KpiParams", "user_id"): "the request's own filter; KPI rows name their dimensions",
    ("KpiParams", "pipeline_id"): "the request's own filter; KPI rows name their dimensions",
    ("AssignmentSettings", "fallback_team_id"): "a setting as set; the settings screen picks from /teams",
}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@cache
def _response_schemas() -> dict[str, dict[str, Any]]:
    """The component schemas an answer can contain: those reachable from any operation's responses."""
    document = create_app().openapi()
    components = document["components"]["schemas"]
    pending = [
        name
        for item in document["paths"].values()
        for operation in item.values()
        for name in _refs(operation.get("responses", {}))
    ]
    reached: dict[str, dict[str, Any]] = {}
    while pending:
        name = pending.pop()
        if name not in reached and name in components:
            reached[name] = components[name]
            pending.extend(_refs(components[name]))
    return reached


def _unnamed_references() -> Iterator[tuple[str, str]]:
    for schema_name, schema in _response_schemas().items():
        properties = schema.get("properties", {})
        for field in properties:
            if field in NOT_REFERENCES or (schema_name, field) in NO_NAME:
                continue
            if field.endswith("_id") and f"{field[: -len('_id')]}_name" not in properties:
                yield schema_name, field
            if field.endswith("_ids") and f"{field[: -len('_ids')]}_names" not in properties:
                yield schema_name, field


def test_every_id_an_answer_shows_comes_with_its_name() -> None:
    unnamed = sorted(_unnamed_references())
    assert unnamed == [], (
        "ids without a `<x>_name` (or `<x>_names`) beside them; name them through "
        "app/services/platform/display_names.py, or allow-list them here with the reason: " + repr(unnamed)
    )


def test_every_allow_listed_id_is_still_in_an_answer() -> None:
    """An allow-list entry whose field is gone (or now named) would hide the next unnamed one."""
    schemas = _response_schemas()
    stale = [
        (schema_name, field)
        for schema_name, field in NO_NAME
        if field not in schemas.get(schema_name, {}).get("properties", {})
        or f"{field.rsplit('_', 1)[0]}_name{'s' if field.endswith('_ids') else ''}"
        in schemas[schema_name]["properties"]
    ]
    assert stale == []
