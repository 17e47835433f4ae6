"""Cross-tenant references: every request-body field that holds an id refuses another
organization's record, and the refused request writes nothing (issue 18, defect 8).

The fields are found, not listed: every property of a request body in the app's OpenAPI whose name
ends in `_id` or `_ids`, nested ones included (`lines[].product_id`, `fields.owner_id`), and every
id the organization settings hold (the contract types `settings` as one free JSON object, so those
come from the policy that reads them). A field without a row in REFERENCES fails the suite, so a new
field cannot ship without someone deciding how it is checked.

A row is a request that is valid with the caller's own record in the field. The test sends it with
another organization's record there and expects the refusal the row states, naming the field or the
id, with every row of every table unchanged; then sends it with the caller's own record and expects
success, which shows the refusal came from the foreign id and not from a body gone stale.

The refusals are the product's: 422 naming the field where the id links a record to the one being
written (owners, assignees, members, contacts, products, attachments, stages, a source lead, the
fallback team); 404 naming the id where the request is about or under that record (an activity's
or a task's lead, customer or opportunity, an opportunity's or a converted lead's customer and
pipeline, a quote's opportunity, an attachment's parent, the activity completing a task), as the
record's own GET answers. Neither tells whether the id exists in another organization.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import httpx
from sqlalchemy import select

from app.db import Base
from app.domain.organization.policy import OrganizationPolicy
from app.services.platform.unit_of_work import session_scope
from tests.api.helpers import ok
from tests.conftest import PASSWORD, Tenant, sign_in


@dataclass(frozen=True)
class Ref:
    """Where the id under test goes: a record of this kind, the caller's own or another
    organization's."""

    kind: str


@dataclass(frozen=True)
class Own:
    """Another of the caller's records the request needs."""

    kind: str


@dataclass(frozen=True)
class Unique:
    """A value no earlier call used: names and phones that must not repeat."""

    prefix: str


@dataclass(frozen=True)
class Case:
    method: str
    # `{kind}`: the caller's record; `{fresh_kind}`: a new one for each call, where the call changes
    # it (a converted lead, a won deal, a completed task, a handed-over user)
    path: str
    body: dict[str, Any]
    refused: int = 422
    multipart: bool = False
    # A bulk edit answers 200 with a result per item: the refusal is the one item's problem.
    per_item: bool = False


@dataclass(frozen=True)
class NotAReference:
    """An `_id` field naming no record of ours (an external system's id, a client's own key)."""

    reason: str


REF_USER, REF_TEAM = Ref("user"), Ref("team")
_LEAD = {"name": "王工", "source": "api", "phone": Unique("139")}
_OPPORTUNITY = {"name": "屋面工程", "customer_id": Own("customer")}
_INTAKE_FORM = {"name": "官网询价", "field_mapping": {"contact": "name", "mobile": "phone"}}
_TASK = {"title": "回访", "due_at": "2026-11-30T10:00:00+08:00"}
_LINE = {"quantity": "10", "unit_price": "40.0000"}
_ACTIVITY = {"type": "note", "occurred_at": "2026-11-23T01:00:00Z", "notes": "现场"}
_RULE = {"name": Unique("规则 "), "priority": 10, "strategy": "round_robin"}
_PLAYBOOK = {"kind": "objection_answer", "title": "预算有限", "body": "分期付款"}
_ENGAGEMENT = {"type": "email_open", "occurred_at": "2026-11-23T01:00:00Z", "event_id": Unique("evt-")}

REFERENCES: dict[tuple[str, str], Case | NotAReference] = {
    ("record_engagement_events", "lead_id"): Case(
        "POST", "/api/v1/engagement-events", {**_ENGAGEMENT, "lead_id": Ref("lead")}
    ),
    ("record_engagement_events", "events[].lead_id"): Case(
        "POST", "/api/v1/engagement-events", {"events": [{**_ENGAGEMENT, "lead_id": Ref("lead")}]}
    ),
    ("record_engagement_events", "contact_id"): Case(
        "POST", "/api/v1/engagement-events", {**_ENGAGEMENT, "contact_id": Ref("contact")}
    ),
    ("record_engagement_events", "events[].contact_id"): Case(
        "POST", "/api/v1/engagement-events", {"events": [{**_ENGAGEMENT, "contact_id": Ref("contact")}]}
    ),
    ("record_engagement_events", "customer_id"): Case(
        "POST", "/api/v1/engagement-events", {**_ENGAGEMENT, "customer_id": Ref("customer")}
    ),
    ("record_engagement_events", "events[].customer_id"): Case(
        "POST", "/api/v1/engagement-events", {"events": [{**_ENGAGEMENT, "customer_id": Ref("customer")}]}
    ),
    ("record_engagement_events", "event_id"): NotAReference("the sender's own key that de-duplicates events"),
    ("record_engagement_events", "events[].event_id"): NotAReference(
        "the sender's own key that de-duplicates events"
    ),
    ("hand_over_user", "to_user_id"): Case(
        "POST", "/api/v1/users/{fresh_user}/handover", {"to_user_id": REF_USER}
    ),
    ("create_team", "supervisor_id"): Case(
        "POST", "/api/v1/teams", {"name": Unique("组 "), "supervisor_id": REF_USER}
    ),
    ("create_team", "member_ids"): Case(
        "POST", "/api/v1/teams", {"name": Unique("组 "), "member_ids": [REF_USER]}
    ),
    ("update_team", "supervisor_id"): Case("PATCH", "/api/v1/teams/{team}", {"supervisor_id": REF_USER}),
    ("update_team", "member_ids"): Case("PATCH", "/api/v1/teams/{team}", {"member_ids": [REF_USER]}),
    ("create_lead", "owner_id"): Case("POST", "/api/v1/leads", {**_LEAD, "owner_id": REF_USER}),
    ("bulk_edit_leads", "lead_ids"): Case(
        "POST",
        "/api/v1/leads/bulk",
        {"action": "tag", "lead_ids": [Ref("lead")], "tags": ["批量"]},
        404,
        per_item=True,
    ),
    ("bulk_edit_leads", "owner_id"): Case(
        "POST",
        "/api/v1/leads/bulk",
        {"action": "assign", "lead_ids": [Own("lead")], "owner_id": REF_USER, "reason": "区域调整"},
    ),
    ("bulk_edit_customers", "customer_ids"): Case(
        "POST",
        "/api/v1/customers/bulk",
        {"action": "tag", "customer_ids": [Ref("customer")], "tags": ["批量"]},
        404,
        per_item=True,
    ),
    ("bulk_edit_customers", "owner_id"): Case(
        "POST",
        "/api/v1/customers/bulk",
        {"action": "reassign", "customer_ids": [Own("customer")], "owner_id": REF_USER},
    ),
    ("create_lead", "campaign_id"): Case("POST", "/api/v1/leads", {**_LEAD, "campaign_id": Ref("campaign")}),
    ("create_intake_form", "campaign_id"): Case(
        "POST", "/api/v1/intake-forms", {**_INTAKE_FORM, "campaign_id": Ref("campaign")}
    ),
    ("update_intake_form", "campaign_id"): Case(
        "PATCH", "/api/v1/intake-forms/{intake_form}", {"campaign_id": Ref("campaign")}
    ),
    ("update_lead", "campaign_id"): Case("PATCH", "/api/v1/leads/{lead}", {"campaign_id": Ref("campaign")}),
    ("convert_lead", "customer_id"): Case(
        "POST", "/api/v1/leads/{fresh_lead}/convert", {"customer_id": Ref("customer")}, refused=404
    ),
    ("convert_lead", "pipeline_id"): Case(
        "POST",
        "/api/v1/leads/{fresh_lead}/convert",
        {"customer_name": "新客户", "opportunity_name": "新机会", "pipeline_id": Ref("pipeline")},
        refused=404,
    ),
    ("assign_lead", "user_id"): Case(
        "POST", "/api/v1/leads/{fresh_lead}/assign", {"user_id": Ref("colleague"), "reason": "客户指定"}
    ),
    ("create_assignment_rule", "user_ids"): Case(
        "POST", "/api/v1/assignment-rules", {**_RULE, "user_ids": [REF_USER]}
    ),
    ("create_assignment_rule", "team_ids"): Case(
        "POST", "/api/v1/assignment-rules", {**_RULE, "team_ids": [REF_TEAM]}
    ),
    ("update_assignment_rule", "user_ids"): Case(
        "PATCH", "/api/v1/assignment-rules/{rule}", {"user_ids": [REF_USER]}
    ),
    ("update_assignment_rule", "team_ids"): Case(
        "PATCH", "/api/v1/assignment-rules/{rule}", {"team_ids": [REF_TEAM]}
    ),
    ("create_customer", "owner_id"): Case(
        "POST", "/api/v1/customers", {"name": Unique("客户 "), "owner_id": REF_USER}
    ),
    ("update_customer", "owner_id"): Case("PATCH", "/api/v1/customers/{customer}", {"owner_id": REF_USER}),
    ("merge_customer", "duplicate_id"): Case(
        "POST", "/api/v1/customers/{customer}/merge", {"duplicate_id": Ref("spare_customer")}, refused=404
    ),
    ("undo_customer_merge", "duplicate_id"): Case(
        "POST",
        "/api/v1/customers/{customer}/merge/undo",
        {"duplicate_id": Ref("spare_customer")},
        refused=404,
    ),
    ("merge_lead", "duplicate_id"): Case(
        "POST", "/api/v1/leads/{lead}/merge", {"duplicate_id": Ref("spare_lead")}, refused=404
    ),
    ("undo_lead_merge", "duplicate_id"): Case(
        "POST", "/api/v1/leads/{lead}/merge/undo", {"duplicate_id": Ref("spare_lead")}, refused=404
    ),
    ("create_contact", "wechat_id"): NotAReference("the contact's WeChat account name"),
    ("update_contact", "wechat_id"): NotAReference("the contact's WeChat account name"),
    ("create_activity", "lead_id"): Case(
        "POST", "/api/v1/activities", {**_ACTIVITY, "lead_id": Ref("lead")}, refused=404
    ),
    ("create_activity", "customer_id"): Case(
        "POST", "/api/v1/activities", {**_ACTIVITY, "customer_id": Ref("customer")}, refused=404
    ),
    ("create_activity", "opportunity_id"): Case(
        "POST", "/api/v1/activities", {**_ACTIVITY, "opportunity_id": Ref("opportunity")}, refused=404
    ),
    ("create_activity", "attachment_ids"): Case(
        "POST",
        "/api/v1/activities",
        {**_ACTIVITY, "customer_id": Own("customer"), "attachment_ids": [Ref("attachment")]},
    ),
    ("create_activity", "client_id"): NotAReference("the client's own key that de-duplicates retries"),
    ("upload_attachment", "parent_id"): Case(
        "POST",
        "/api/v1/attachments",
        {"parent_type": "customer", "parent_id": Ref("customer")},
        multipart=True,
        refused=404,
    ),
    ("create_opportunity", "customer_id"): Case(
        "POST", "/api/v1/opportunities", {"name": "屋面工程", "customer_id": Ref("customer")}, refused=404
    ),
    ("create_opportunity", "pipeline_id"): Case(
        "POST", "/api/v1/opportunities", {**_OPPORTUNITY, "pipeline_id": Ref("pipeline")}, refused=404
    ),
    ("create_opportunity", "contact_id"): Case(
        "POST", "/api/v1/opportunities", {**_OPPORTUNITY, "contact_id": Ref("contact")}
    ),
    ("create_opportunity", "owner_id"): Case(
        "POST", "/api/v1/opportunities", {**_OPPORTUNITY, "owner_id": REF_USER}
    ),
    ("create_opportunity", "source_lead_id"): Case(
        "POST", "/api/v1/opportunities", {**_OPPORTUNITY, "source_lead_id": Ref("lead")}
    ),
    ("create_opportunity", "campaign_id"): Case(
        "POST", "/api/v1/opportunities", {**_OPPORTUNITY, "campaign_id": Ref("campaign")}
    ),
    ("update_opportunity", "campaign_id"): Case(
        "PATCH", "/api/v1/opportunities/{opportunity}", {"campaign_id": Ref("campaign")}
    ),
    ("update_opportunity", "contact_id"): Case(
        "PATCH", "/api/v1/opportunities/{opportunity}", {"contact_id": Ref("contact")}
    ),
    ("update_opportunity", "owner_id"): Case(
        "PATCH", "/api/v1/opportunities/{opportunity}", {"owner_id": REF_USER}
    ),
    ("change_opportunity_stage", "to_stage_id"): Case(
        "POST", "/api/v1/opportunities/{fresh_opportunity}/stage-changes", {"to_stage_id": Ref("stage")}
    ),
    ("change_opportunity_stage", "attachment_ids"): Case(
        "POST",
        "/api/v1/opportunities/{fresh_opportunity}/stage-changes",
        {"to_stage_id": Own("stage"), "attachment_ids": [Ref("attachment")]},
    ),
    ("change_opportunity_stage", "fields.contact_id"): Case(
        "POST",
        "/api/v1/opportunities/{fresh_opportunity}/stage-changes",
        {"to_stage_id": Own("stage"), "fields": {"contact_id": Ref("contact")}},
    ),
    ("change_opportunity_stage", "fields.campaign_id"): Case(
        "POST",
        "/api/v1/opportunities/{fresh_opportunity}/stage-changes",
        {"to_stage_id": Own("stage"), "fields": {"campaign_id": Ref("campaign")}},
    ),
    ("change_opportunity_stage", "fields.owner_id"): Case(
        "POST",
        "/api/v1/opportunities/{fresh_opportunity}/stage-changes",
        {"to_stage_id": Own("stage"), "fields": {"owner_id": REF_USER}},
    ),
    ("win_opportunity", "attachment_ids"): Case(
        "POST", "/api/v1/opportunities/{fresh_opportunity}/win", {"attachment_ids": [Ref("attachment")]}
    ),
    ("win_opportunity", "fields.contact_id"): Case(
        "POST", "/api/v1/opportunities/{fresh_opportunity}/win", {"fields": {"contact_id": Ref("contact")}}
    ),
    ("win_opportunity", "fields.campaign_id"): Case(
        "POST", "/api/v1/opportunities/{fresh_opportunity}/win", {"fields": {"campaign_id": Ref("campaign")}}
    ),
    ("win_opportunity", "fields.owner_id"): Case(
        "POST", "/api/v1/opportunities/{fresh_opportunity}/win", {"fields": {"owner_id": REF_USER}}
    ),
    ("create_task", "assignee_id"): Case(
        "POST", "/api/v1/tasks", {**_TASK, "customer_id": Own("customer"), "assignee_id": REF_USER}
    ),
    ("create_task", "lead_id"): Case("POST", "/api/v1/tasks", {**_TASK, "lead_id": Ref("lead")}, refused=404),
    ("create_task", "customer_id"): Case(
        "POST", "/api/v1/tasks", {**_TASK, "customer_id": Ref("customer")}, refused=404
    ),
    ("create_task", "opportunity_id"): Case(
        "POST", "/api/v1/tasks", {**_TASK, "opportunity_id": Ref("opportunity")}, refused=404
    ),
    ("update_task", "assignee_id"): Case("PATCH", "/api/v1/tasks/{task}", {"assignee_id": REF_USER}),
    ("complete_task", "activity_id"): Case(
        "POST", "/api/v1/tasks/{fresh_task}/complete", {"activity_id": Ref("activity")}, refused=404
    ),
    ("create_quote", "opportunity_id"): Case(
        "POST",
        "/api/v1/quotes",
        {"opportunity_id": Ref("opportunity"), "lines": [{**_LINE, "product_id": Own("product")}]},
        refused=404,
    ),
    ("create_quote", "lines[].product_id"): Case(
        "POST",
        "/api/v1/quotes",
        {"opportunity_id": Own("opportunity"), "lines": [{**_LINE, "product_id": Ref("product")}]},
    ),
    ("replace_quote_lines", "lines[].product_id"): Case(
        "PUT", "/api/v1/quotes/{quote}/lines", {"lines": [{**_LINE, "product_id": Ref("product")}]}
    ),
    ("create_playbook_entry", "activity_id"): Case(
        "POST", "/api/v1/playbook-entries", {**_PLAYBOOK, "activity_id": Ref("activity")}, refused=404
    ),
    ("create_playbook_entry", "tags.stage_id"): Case(
        "POST", "/api/v1/playbook-entries", {**_PLAYBOOK, "tags": {"stage_id": Ref("stage")}}
    ),
    ("update_playbook_entry", "tags.stage_id"): Case(
        "PATCH", "/api/v1/playbook-entries/{playbook_entry}", {"tags": {"stage_id": Ref("stage")}}
    ),
    ("record_playbook_use", "activity_id"): Case(
        "POST",
        "/api/v1/playbook-entries/{playbook_entry}/uses",
        {"activity_id": Ref("activity")},
        refused=404,
    ),
    ("create_notification_channel", "config.corp_id"): NotAReference("the WeCom corporation's id"),
    ("create_notification_channel", "config.agent_id"): NotAReference("the WeCom application's id"),
    ("update_notification_channel", "config.corp_id"): NotAReference("the WeCom corporation's id"),
    ("update_notification_channel", "config.agent_id"): NotAReference("the WeCom application's id"),
    ("put_wecom_app", "corp_id"): NotAReference("the WeCom corporation's id"),
    ("put_wecom_app", "agent_id"): NotAReference("the WeCom application's id"),
    ("update_organization", "settings.assignment.fallback_team_id"): Case(
        "PATCH", "/api/v1/organization", {"settings": {"assignment": {"fallback_team_id": REF_TEAM}}}
    ),
}


# `upload_attachment parent_id` names a record of the kind `parent_type` says; the row above sends a
# customer, these the other kinds, each refused by its own lookup as its GET refuses it.
PARENT_CASES: dict[str, Case] = {
    f"upload_attachment parent_id ({kind})": Case(
        "POST",
        "/api/v1/attachments",
        {"parent_type": kind, "parent_id": Ref(kind)},
        multipart=True,
        refused=404,
    )
    for kind in ("lead", "opportunity", "activity")
}


# --- the fields, as the contract and the settings policy name them ------------------------------


def _holds_id(name: str) -> bool:
    return name.endswith(("_id", "_ids"))


def _id_paths(
    schema: dict[str, Any], schemas: dict[str, Any], prefix: str, seen: frozenset[str]
) -> Iterator[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _id_paths(schemas[name], schemas, prefix, seen | {name})
        return
    for variant in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from _id_paths(variant, schemas, prefix, seen)
    if "items" in schema:
        yield from _id_paths(schema["items"], schemas, prefix + "[]", seen)
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if _holds_id(name):
            yield path
        yield from _id_paths(prop, schemas, path, seen)


def _setting_id_paths(policy: Any = OrganizationPolicy, prefix: str = "settings") -> Iterator[str]:
    """Ids among the settings: the policy's sections and fields carry the settings' key names."""
    for name, hint in get_type_hints(policy).items():
        path = f"{prefix}.{name}"
        if _holds_id(name):
            yield path
        elif dataclasses.is_dataclass(hint):
            yield from _setting_id_paths(hint, path)


def id_fields(app: Any) -> set[tuple[str, str]]:
    """(operation id, field path) of every request-body field that holds an id."""
    schema = app.openapi()
    found = {
        (operation["operationId"], path)
        for item in schema["paths"].values()
        for operation in item.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
        for path in _id_paths(content["schema"], schema["components"]["schemas"], "", frozenset())
    }
    return found | {("update_organization", path) for path in _setting_id_paths()}


# --- the world: the caller's records and another organization's ---------------------------------


@dataclass
class Side:
    tenant: Tenant
    ids: dict[str, str] = field(default_factory=dict)


async def _post(client: httpx.AsyncClient, side: Side, path: str, body: dict[str, Any]) -> Any:
    return ok(await client.post(path, json=body, headers=side.tenant.headers), 201)


async def _user(client: httpx.AsyncClient, side: Side) -> str:
    name = f"rep-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "display_name": name, "password": PASSWORD, "role": "rep"}
    return str((await _post(client, side, "/api/v1/users", body))["id"])


async def _lead(client: httpx.AsyncClient, side: Side) -> str:
    return str((await _post(client, side, "/api/v1/leads", _fill(_LEAD, side, side)))["id"])


async def _opportunity(client: httpx.AsyncClient, side: Side) -> str:
    body = {"name": "屋面工程", "customer_id": side.ids["customer"], "pipeline_id": side.ids["pipeline"]}
    return str((await _post(client, side, "/api/v1/opportunities", body))["id"])


async def _task(client: httpx.AsyncClient, side: Side) -> str:
    body = {**_TASK, "opportunity_id": side.ids["opportunity"]}
    return str((await _post(client, side, "/api/v1/tasks", body))["id"])


_FRESH = {"user": _user, "lead": _lead, "opportunity": _opportunity, "task": _task}


async def _side(client: httpx.AsyncClient, tenant: Tenant) -> Side:
    """One record of every kind a reference names, in a pipeline without gates."""
    side = Side(tenant)
    ids = side.ids
    ids["user"] = await _user(client, side)
    ids["colleague"] = await _user(client, side)  # a new lead goes to `user`, by the rule below
    campaign = {"name": f"活动 {uuid.uuid4().hex[:6]}", "channel": "online_ad"}
    ids["campaign"] = str((await _post(client, side, "/api/v1/campaigns", campaign))["id"])
    ids["intake_form"] = str((await _post(client, side, "/api/v1/intake-forms", _INTAKE_FORM))["id"])
    ids["team"] = str(
        (await _post(client, side, "/api/v1/teams", {"name": f"组 {uuid.uuid4().hex[:6]}"}))["id"]
    )
    ids["lead"] = await _lead(client, side)
    # Merged into `lead` by the merge case's control call, and split again by the undo's.
    ids["spare_lead"] = await _lead(client, side)
    ids["customer"] = str((await _post(client, side, "/api/v1/customers", {"name": "申华建材"}))["id"])
    # Merged into `customer` by the merge case's control call, and split again by the undo's.
    ids["spare_customer"] = str((await _post(client, side, "/api/v1/customers", {"name": "钱江水泥"}))["id"])
    contact = await _post(client, side, f"/api/v1/customers/{ids['customer']}/contacts", {"name": "李娜"})
    ids["contact"] = str(contact["id"])
    stages = [
        {"kind": "open", "name": "接触", "probability": 10},
        {"kind": "open", "name": "报价", "probability": 60},
        {"kind": "won", "name": "赢单", "probability": 100},
        {"kind": "lost", "name": "输单", "probability": 0},
    ]
    pipeline = await _post(client, side, "/api/v1/pipelines", {"name": "无门槛流程", "stages": stages})
    ids["pipeline"], ids["stage"] = str(pipeline["id"]), str(pipeline["stages"][1]["id"])
    ids["opportunity"] = await _opportunity(client, side)
    activity = {**_ACTIVITY, "opportunity_id": ids["opportunity"]}
    ids["activity"] = str((await _post(client, side, "/api/v1/activities", activity))["id"])
    ids["task"] = await _task(client, side)
    attachment = await client.post(
        "/api/v1/attachments",
        files={"file": ("note.txt", b"site notes", "text/plain")},
        data={"parent_type": "customer", "parent_id": ids["customer"]},
        headers=tenant.headers,
    )
    ids["attachment"] = str(ok(attachment, 201)["id"])
    product = {"name": "卷材", "sku": f"M-{uuid.uuid4().hex[:6]}", "unit": "㎡", "list_price": "42.5000"}
    ids["product"] = str((await _post(client, side, "/api/v1/products", product))["id"])
    quote = {"opportunity_id": ids["opportunity"], "lines": [{**_LINE, "product_id": ids["product"]}]}
    ids["quote"] = str((await _post(client, side, "/api/v1/quotes", quote))["id"])
    rule = {**_RULE, "name": f"规则 {uuid.uuid4().hex[:6]}", "user_ids": [ids["user"]]}
    ids["rule"] = str((await _post(client, side, "/api/v1/assignment-rules", rule))["id"])
    ids["playbook_entry"] = await _approved_playbook_entry(client, side)
    return side


async def _approved_playbook_entry(client: httpx.AsyncClient, side: Side) -> str:
    """Written by the admin, approved by a supervisor: an entry every call may use."""
    entry = await _post(client, side, "/api/v1/playbook-entries", {**_PLAYBOOK, "approval_state": "pending"})
    name = f"sup-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "display_name": name, "password": PASSWORD, "role": "supervisor"}
    await _post(client, side, "/api/v1/users", body)
    headers = {"Authorization": f"Bearer {await sign_in(client, name)}"}
    decision = {"decision": "approved", "reason": "可以推广"}
    ok(await client.post(f"/api/v1/playbook-entries/{entry['id']}/approval", json=decision, headers=headers))
    return str(entry["id"])


# --- one call ------------------------------------------------------------------------------------


def _fill(template: Any, own: Side, ref: Side) -> Any:
    if isinstance(template, Ref):
        return ref.ids[template.kind]
    if isinstance(template, Own):
        return own.ids[template.kind]
    if isinstance(template, Unique):
        return f"{template.prefix}{uuid.uuid4().int % 10**8:08d}"
    if isinstance(template, dict):
        return {key: _fill(value, own, ref) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, own, ref) for value in template]
    return template


async def _url(client: httpx.AsyncClient, path: str, own: Side) -> str:
    names = {name for name in _FRESH if f"{{fresh_{name}}}" in path}
    fresh = {f"fresh_{name}": await _FRESH[name](client, own) for name in names}
    return path.format(**own.ids, **fresh)


async def _send(client: httpx.AsyncClient, case: Case, url: str, own: Side, ref: Side) -> httpx.Response:
    body = _fill(case.body, own, ref)
    headers = own.tenant.headers
    if case.multipart:
        upload = {"file": ("note.txt", b"site notes", "text/plain")}
        return await client.request(case.method, url, files=upload, data=body, headers=headers)
    return await client.request(case.method, url, json=body, headers=headers)


async def _tables(app: Any) -> dict[str, list[str]]:
    """Every row of every table, as text: what "nothing was written" compares."""
    runtime = app.state.runtime
    await runtime.queue.drain()  # what earlier calls set going (a new lead's assignment) is done
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        return {
            table.name: sorted(repr(tuple(row)) for row in await session.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def _refusal(case: Case, response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """The status and problem of the refusal: the answer's, or for a bulk edit its one item's."""
    body = response.json()
    if case.per_item and response.status_code == 200 and len(body["results"]) == 1:
        problem = body["results"][0]["problem"] or {}
        return int(problem.get("status", 200)), problem
    return response.status_code, body


def _names(problem: dict[str, Any], path: str, foreign_id: str) -> bool:
    """The refusal points at the field (its path, or its own name inside a nested object) or at
    the id, so it is this field that was refused."""
    wanted = {path.replace("[]", ""), path.rsplit(".", 1)[-1]}
    fields = {re.sub(r"\[\d+\]", "", str(error.get("field"))) for error in problem.get("errors") or []}
    return bool(fields & wanted) or foreign_id in str(problem.get("detail"))


async def test_every_id_field_of_every_request_body_has_a_row(app):
    assert sorted(id_fields(app) - set(REFERENCES)) == [], "every id field needs a row in REFERENCES"
    assert sorted(set(REFERENCES) - id_fields(app)) == [], "a row names a field the contract no longer has"


async def test_another_organizations_id_is_refused_in_every_body_field_and_nothing_is_written(
    app, client, make_tenant
):
    own = await _side(client, await make_tenant("Own"))
    foreign = await _side(client, await make_tenant("Foreign"))
    wrong: dict[str, str] = {}
    cases = [
        (f"{operation} {path}", path, case)
        for (operation, path), case in sorted(REFERENCES.items(), key=lambda item: item[0])
        if not isinstance(case, NotAReference)
    ] + [(where, "parent_id", case) for where, case in PARENT_CASES.items()]
    for where, path, case in cases:
        url = await _url(client, case.path, own)
        before = await _tables(app)
        refused = await _send(client, case, url, own, foreign)
        [ref] = _refs(case.body)
        status, problem = _refusal(case, refused)
        if status != case.refused:
            wrong[where] = f"{refused.status_code}: {refused.text[:300]}"
        elif not _names(problem, path, foreign.ids[ref.kind]):
            wrong[where] = f"the refusal names neither the field nor the id: {refused.text[:300]}"
        elif changed := [table for table, rows in (await _tables(app)).items() if rows != before[table]]:
            wrong[where] = f"refused, but wrote to {changed}"
        else:
            control = await _send(client, case, url, own, own)
            if control.status_code >= 300:
                wrong[where] = f"the caller's own record: {control.status_code}: {control.text[:300]}"
    assert wrong == {}, "\n".join(f"{where}: {why}" for where, why in wrong.items())


def _refs(template: Any) -> list[Ref]:
    return list(_walk_refs(template))


def _walk_refs(template: Any) -> Iterator[Ref]:
    if isinstance(template, Ref):
        yield template
    elif isinstance(template, dict):
        for value in template.values():
            yield from _walk_refs(value)
    elif isinstance(template, list):
        for value in template:
            yield from _walk_refs(value)
