"""The finishing touches FastAPI's generator leaves to us, so the document lints clean (Redocly
`recommended`, Spectral `oas`) and every example validates against its schema."""

from __future__ import annotations

import re
from typing import Any

from app.api.errors import PROBLEM_MEDIA_TYPE

BEARER = "HTTPBearer"
# Tags in the order the reference lists them, each with the sentence a reader sees under it.
TAG_DESCRIPTIONS = {
    "auth": "Sign-in (password, WeCom), refresh tokens, sign-out everywhere.",
    "users": "Users, their roles and teams, hand-over of a leaving rep's records.",
    "teams": "Teams and their supervisors.",
    "api keys": "Keys for integrations, with scopes.",
    "organization": "The organization's settings (JSON Merge Patch) and its WeCom app.",
    "notifications": "The caller's in-app notifications.",
    "leads": "Leads: capture, de-duplication, qualification, conversion, merge, deletion.",
    "lead pool": "The public pool: claim, release, assign.",
    "assignment": "Rules that assign new leads, and a simulation of them.",
    "imports": "Spreadsheet imports of leads, customers and opportunities, run as jobs.",
    "intake": "Web-to-lead forms and their public intake endpoint.",
    "customers": "The customer master record: code, duplicates, merge, timeline, contacts, health.",
    "bulk edits": "Bulk changes for supervisors, with a result per record.",
    "search": "One search across leads, customers, contacts and opportunities.",
    "activities": "Calls, visits with geo check-in and other activities: the audit trail.",
    "engagement": "Engagement events from outside systems (opens, clicks, visits).",
    "attachments": "Files on records, e.g. the evidence a stage gate asks for.",
    "pipelines": "Pipelines, stages and their gates.",
    "opportunities": "Opportunities through the stages: gates, win, loss, reopen, history.",
    "win-probability": "Win probability per opportunity and the model behind it.",
    "next-actions": "Next-best actions mined from closed deals, and the best hours to call.",
    "tasks": "Tasks on leads, customers and opportunities, with reminders.",
    "quotes": "Products, quotes, their lines, price history and approval.",
    "playbook": "The playbook: talk tracks and objections, approved before use.",
    "campaigns": "Marketing campaigns and their costs.",
    "sla": "SLA policies and timers.",
    "business-calendars": "Working days and hours the SLA clocks count in.",
    "status-board": "Overdue and due work, red, yellow and green.",
    "kpis": "KPIs for managers and integrators (docs/kpis.md).",
    "webhooks": "Signed webhook subscriptions and their deliveries.",
    "notification-channels": "WeCom and DingTalk channels and their deliveries.",
    "wecom": "The WeCom JS-SDK signature for the H5 app.",
    "exports": "Lists exported as CSV or XLSX files by a job, for lists too long for one answer.",
    "audit": "The audit trail.",
    "changes": "A feed of created, updated and deleted records for incremental sync.",
    "personal data": "Exports of a person's data (PIPL).",
    "operations": "Health, readiness and metrics.",
}


def finish_document(schema: dict[str, Any]) -> None:
    """Problem media types on errors, security stated on every operation, servers, tags, and
    examples completed where FastAPI's generator drops their nulls."""
    schema["servers"] = [{"url": "/", "description": "The host that serves this document."}]
    schema["security"] = [{BEARER: []}]
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            _problem_content(operation)
            _declare_replay_header(operation)
            # An operation without the bearer dependency is public: say so, rather than inherit.
            operation.setdefault("security", [])
    for path_item in schema.get("webhooks", {}).values():
        for operation in path_item.values():
            operation.setdefault("security", [])
    _declare_tags(schema)
    _name_form_bodies(schema)
    complete_examples(schema)


def _problem_content(operation: dict[str, Any]) -> None:
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        if status[0] in "45" and "application/json" in content:
            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")


REPLAY_HEADER = {
    "description": "`true` when this is the stored answer to an earlier request with the same "
    "Idempotency-Key (replayed for 24 h); absent on a first answer.",
    "schema": {"type": "string", "enum": ["true"]},
}


def _declare_replay_header(operation: dict[str, Any]) -> None:
    """The header a replayed answer carries, on the successes of operations taking Idempotency-Key."""
    takes_key = any(
        parameter.get("in") == "header" and parameter.get("name", "").lower() == "idempotency-key"
        for parameter in operation.get("parameters", [])
    )
    if not takes_key:
        return
    for status, response in operation.get("responses", {}).items():
        if status.startswith("2"):
            response.setdefault("headers", {})["Idempotent-Replayed"] = REPLAY_HEADER


def _name_form_bodies(schema: dict[str, Any]) -> None:
    """FastAPI names a multipart body after its operation (`Body_import_leads`); generated clients
    then carry that name. Each becomes `<Operation>Form` (`ImportLeadsForm`), references included."""
    components = schema["components"]["schemas"]
    renamed = {
        name: "".join(part.capitalize() for part in name.removeprefix("Body_").split("_")) + "Form"
        for name in components
        if name.startswith("Body_")
    }
    for old, new in renamed.items():
        components[new] = components.pop(old)
        components[new]["title"] = new
    pattern = re.compile(r"^#/components/schemas/(Body_\w+)$")

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and (found := pattern.match(reference)):
                node["$ref"] = f"#/components/schemas/{renamed[found[1]]}"
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(schema)


def _declare_tags(schema: dict[str, Any]) -> None:
    used = {
        tag
        for path_item in schema["paths"].values()
        for operation in path_item.values()
        for tag in operation.get("tags", [])
    }
    undescribed = used - TAG_DESCRIPTIONS.keys()
    if undescribed:
        raise ValueError(f"Tags without a description in TAG_DESCRIPTIONS: {sorted(undescribed)}")
    schema["tags"] = [
        {"name": tag, "description": text} for tag, text in TAG_DESCRIPTIONS.items() if tag in used
    ]


def complete_examples(schema: dict[str, Any]) -> None:
    """FastAPI serialises the document without None values, examples included, so a page's
    `"next_cursor": null` and an answer's unset dates vanish and the example no longer matches its
    schema. Every required property an example leaves out, where the schema admits null, is put
    back as null: what the API answers for that field when it is unset."""
    components = schema.get("components", {}).get("schemas", {})
    for component in components.values():
        for example in component.get("examples", []):
            _complete(example, component, components)
    for path_item in [*schema["paths"].values(), *schema.get("webhooks", {}).values()]:
        for operation in path_item.values():
            bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
            for body in bodies:
                for media in body.get("content", {}).values():
                    if "example" in media:
                        _complete(media["example"], media.get("schema", {}), components)
                    for named in media.get("examples", {}).values():
                        _complete(named.get("value"), media.get("schema", {}), components)


def _complete(value: Any, node: dict[str, Any], components: dict[str, Any]) -> None:
    node = _resolve(node, components)
    if isinstance(value, list):
        item_schema = node.get("items")
        if isinstance(item_schema, dict):
            for item in value:
                _complete(item, item_schema, components)
        return
    if not isinstance(value, dict):
        return
    objects = [
        branch for branch in node.get("anyOf", []) if _resolve(branch, components).get("type") != "null"
    ]
    if len(objects) == 1:  # `X | None`: the example is the X
        _complete(value, objects[0], components)
        return
    properties = node.get("properties", {})
    for name in node.get("required", []):
        if name not in value and _admits_null(properties.get(name, {}), components):
            value[name] = None
    for name, property_schema in properties.items():
        if name in value:
            _complete(value[name], property_schema, components)


def _resolve(node: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    reference = node.get("$ref", "")
    prefix = "#/components/schemas/"
    return components[reference.removeprefix(prefix)] if reference.startswith(prefix) else node


def _admits_null(node: dict[str, Any], components: dict[str, Any]) -> bool:
    node = _resolve(node, components)
    if node.get("type") == "null" or (isinstance(node.get("type"), list) and "null" in node["type"]):
        return True
    return any(_admits_null(branch, components) for branch in node.get("anyOf", []) + node.get("oneOf", []))
