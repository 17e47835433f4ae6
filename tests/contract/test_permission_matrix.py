"""The permission matrix: every operation of the API, called by every kind of principal, answers as
the table below says. An operation the table does not name fails the suite, so a new route cannot
ship without someone deciding who may call it.

Each call is made so that an allowed principal stops at validation or at a precondition and changes
nothing: what is measured is whether authentication, permission and visibility let the caller
through. A PATCH is a valid edit under a stale If-Match (412 once the record is loaded, 404 when it
is hidden); other bodies are refused by validation, which comes before the record is loaded, so for
those operations the matrix checks permission, and visibility is checked by their own tests.
Deleting and revoking calls get a fresh record each.

`get_current_win_model` answers 404 to everyone allowed: the world trains no model.

Outcomes: `ok` let through (any answer but 401, 403 and 404), `403` refused by permission, `404`
the record is hidden (another team's, another rep's, another organization's), `401` not signed in.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.domain.identity.permissions import API_KEY_SCOPES
from tests.api.helpers import bearer, ok
from tests.conftest import PASSWORD, Tenant, sign_in

PRINCIPALS = (
    "admin",  # the organization's admin
    "director",
    "sup_team",  # supervisor of the team the owning rep belongs to
    "sup_other",  # supervisor of another team
    "rep_owner",  # the rep who owns the records the paths name
    "rep_other",  # a rep of the other team
    "marketing",
    "key_all",  # an API key with every scope a key may hold
    "key_none",  # an API key with only organization:read
    "foreign",  # the admin of another organization
)


def _table(text: str) -> dict[str, str]:
    rows = [line.split() for line in text.strip().splitlines()[1:]]
    return {row[0]: " ".join(row[1:]) for row in rows}


# One row per operation, one outcome per principal in the order above (columns: admin, director,
# supervisor of the owner's team, another team's supervisor, the owning rep, another rep,
# marketing, API key with every scope, API key without, another organization's admin).
MATRIX = _table(
    """
operation                             adm  dir  sup  sup' rep  rep' mkt  key  key0 frn
add_business_calendar_minutes         ok   ok   ok   ok   ok   ok   403  ok   403  ok
add_campaign_cost                     ok   ok   403  403  403  403  ok   ok   403  ok
assign_lead                           ok   ok   ok   ok   403  403  403  ok   403  ok
bulk_edit_customers                   ok   ok   ok   ok   403  403  403  403  403  ok
bulk_edit_leads                       ok   ok   ok   ok   403  403  403  403  403  ok
change_opportunity_stage              ok   ok   ok   ok   ok   ok   403  ok   403  ok
change_quote_status                   ok   ok   ok   ok   ok   ok   403  ok   403  ok
check_customer_duplicates             ok   ok   ok   ok   ok   ok   403  ok   403  ok
claim_lead                            ok   ok   ok   404  ok   404  403  403  403  404
complete_task                         ok   ok   ok   ok   ok   ok   403  ok   403  ok
convert_lead                          ok   ok   ok   ok   ok   ok   ok   ok   403  ok
create_activity                       ok   ok   ok   ok   ok   ok   403  ok   403  ok
create_api_key                        ok   403  403  403  403  403  403  403  403  ok
create_assignment_rule                ok   ok   403  403  403  403  403  403  403  ok
create_business_calendar              ok   ok   403  403  403  403  403  403  403  ok
create_campaign                       ok   ok   403  403  403  403  ok   ok   403  ok
create_contact                        ok   ok   ok   ok   ok   ok   403  ok   403  ok
create_customer                       ok   ok   ok   ok   ok   ok   403  ok   403  ok
create_export                         ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
create_intake_form                    ok   403  403  403  403  403  ok   403  403  ok
create_lead                           ok   ok   ok   ok   ok   ok   ok   ok   403  ok
create_notification_channel           ok   ok   403  403  403  403  403  403  403  ok
create_opportunity                    ok   ok   ok   ok   ok   ok   403  ok   403  ok
create_pipeline                       ok   ok   403  403  403  403  403  403  403  ok
create_playbook_entry                 ok   ok   ok   ok   ok   ok   ok   ok   403  ok
create_product                        ok   ok   403  403  403  403  403  403  403  ok
create_quote                          ok   ok   ok   ok   ok   ok   403  ok   403  ok
create_sla_policy                     ok   ok   403  403  403  403  403  403  403  ok
create_task                           ok   ok   ok   ok   ok   ok   403  ok   403  ok
create_team                           ok   ok   403  403  403  403  403  403  403  ok
create_user                           ok   403  403  403  403  403  403  403  403  ok
create_webhook                        ok   ok   403  403  403  403  403  403  403  ok
decide_playbook_approval              ok   ok   ok   ok   403  403  403  403  403  ok
decide_quote_approval                 ok   ok   ok   ok   ok   ok   403  ok   403  ok
delete_activity                       ok   ok   ok   404  ok   404  403  403  403  404
delete_assignment_rule                ok   ok   403  403  403  403  403  403  403  404
delete_business_calendar              ok   ok   403  403  403  403  403  403  403  404
delete_campaign_cost                  ok   ok   403  403  403  403  ok   ok   403  404
delete_contact                        ok   ok   ok   404  ok   404  403  403  403  404
delete_customer                       ok   ok   ok   404  ok   404  403  403  403  404
delete_intake_form                    ok   403  403  403  403  403  ok   403  403  404
delete_lead                           ok   ok   ok   404  ok   404  403  403  403  404
delete_notification_channel           ok   ok   403  403  403  403  403  403  403  404
delete_team                           ok   ok   403  403  403  403  403  403  403  404
delete_webhook                        ok   ok   403  403  403  403  403  403  403  404
disqualify_lead                       ok   ok   ok   ok   ok   ok   ok   ok   403  ok
download_attachment                   ok   ok   ok   404  ok   404  403  ok   403  404
download_export                       ok   404  404  404  ok   404  404  404  404  404
erase_contact                         ok   403  403  403  403  403  403  403  403  ok
erase_lead                            ok   403  403  403  403  403  403  403  403  ok
export_person_data                    ok   403  403  403  403  403  403  403  403  ok
get_activity                          ok   ok   ok   404  ok   404  403  ok   403  404
get_assignment_rule                   ok   ok   ok   ok   403  403  403  ok   403  404
get_business_calendar                 ok   ok   ok   ok   ok   ok   403  ok   403  404
get_campaign                          ok   ok   ok   ok   ok   ok   ok   ok   403  404
get_contact                           ok   ok   ok   404  ok   404  403  ok   403  404
get_current_user                      ok   ok   ok   ok   ok   ok   ok   403  403  ok
get_current_win_model                 404  404  404  404  404  404  403  404  403  404
get_customer                          ok   ok   ok   404  ok   404  403  ok   403  404
get_customer_contact_times            ok   ok   ok   404  ok   404  403  ok   403  404
get_customer_health                   ok   ok   ok   404  ok   404  403  ok   403  404
get_customer_health_history           ok   ok   ok   404  ok   404  403  ok   403  404
get_customer_timeline                 ok   ok   ok   404  ok   404  403  ok   403  404
get_export                            ok   404  404  404  ok   404  404  404  404  404
get_import_job                        ok   ok   404  404  404  404  404  ok   403  404
get_intake_form                       ok   403  403  403  403  403  ok   403  403  404
get_jsapi_signature                   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
get_kpi_campaign_roi                  ok   ok   ok   ok   ok   ok   ok   ok   403  ok
get_kpi_contact_heatmap               ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_daily_brief                   ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_follow_up                     ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_forecast                      ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_funnel                        ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_handover                      ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_lead_response                 ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_lead_utilization              ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_pei                           ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_pipeline                      ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_rep_performance               ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_sales_cycle                   ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_source_quality                ok   ok   ok   ok   ok   ok   ok   ok   403  ok
get_kpi_stage_dwell                   ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_stale                         ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_status_board                  ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_kpi_time_to_first_deal            ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_lead                              ok   ok   ok   404  ok   404  404  ok   403  404
get_notification_channel              ok   ok   403  403  403  403  403  403  403  404
get_opportunity                       ok   ok   ok   404  ok   404  403  ok   403  404
get_opportunity_next_actions          ok   ok   ok   404  ok   404  403  ok   403  404
get_opportunity_stage_history         ok   ok   ok   404  ok   404  403  ok   403  404
get_organization                      ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
get_pipeline                          ok   ok   ok   ok   ok   ok   403  ok   403  404
get_playbook_entry                    ok   ok   ok   ok   ok   404  404  404  403  404
get_product                           ok   ok   ok   ok   ok   ok   403  ok   403  404
get_quote                             ok   ok   ok   404  ok   404  403  ok   403  404
get_quote_price_history               ok   ok   ok   404  ok   404  403  ok   403  404
get_sla_policy                        ok   ok   ok   ok   ok   ok   403  ok   403  404
get_status_board_summary              ok   ok   ok   ok   ok   ok   403  ok   403  ok
get_task                              ok   ok   ok   404  ok   404  403  ok   403  404
get_team                              ok   ok   ok   ok   ok   ok   ok   ok   403  404
get_user                              ok   ok   ok   404  ok   404  404  ok   403  404
get_webhook                           ok   ok   403  403  403  403  403  403  403  404
get_wecom_app                         ok   403  403  403  403  403  403  403  403  ok
get_win_probability                   ok   ok   ok   404  ok   404  403  ok   403  404
give_lead_feedback                    ok   ok   ok   ok   ok   ok   ok   ok   403  ok
hand_over_user                        ok   ok   403  403  403  403  403  403  403  ok
healthz                               ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
import_customers                      ok   ok   ok   ok   ok   ok   403  ok   403  ok
import_leads                          ok   ok   ok   ok   ok   ok   ok   ok   403  ok
import_opportunities                  ok   ok   ok   ok   ok   ok   403  ok   403  ok
issue_token                           ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
list_activities                       ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_all_contacts                     ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_api_keys                         ok   403  403  403  403  403  403  403  403  ok
list_assignment_rules                 ok   ok   ok   ok   403  403  403  ok   403  ok
list_audit_events                     ok   ok   403  403  403  403  403  ok   403  ok
list_business_calendars               ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_campaign_costs                   ok   ok   ok   ok   ok   ok   ok   ok   403  404
list_campaigns                        ok   ok   ok   ok   ok   ok   ok   ok   403  ok
list_changes                          ok   ok   403  403  403  403  403  ok   403  ok
list_contacts                         ok   ok   ok   404  ok   404  403  ok   403  404
list_customers                        ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_deleted_customers                ok   ok   403  403  403  403  403  ok   403  ok
list_deleted_leads                    ok   ok   403  403  403  403  403  ok   403  ok
list_exports                          ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
list_import_errors                    ok   ok   404  404  404  404  404  ok   403  404
list_import_warnings                  ok   ok   404  404  404  404  404  ok   403  404
list_intake_forms                     ok   403  403  403  403  403  ok   403  403  ok
list_lead_pool                        ok   ok   ok   ok   ok   ok   ok   ok   403  ok
list_leads                            ok   ok   ok   ok   ok   ok   ok   ok   403  ok
list_notification_channel_deliveries  ok   ok   403  403  403  403  403  403  403  404
list_notification_channels            ok   ok   403  403  403  403  403  403  403  ok
list_notifications                    ok   ok   ok   ok   ok   ok   ok   403  403  ok
list_opportunities                    ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_opportunity_playbook             ok   ok   ok   404  ok   404  404  ok   403  404
list_pipelines                        ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_playbook_entries                 ok   ok   ok   ok   ok   ok   ok   ok   403  ok
list_products                         ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_quotes                           ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_sla_policies                     ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_sla_timers                       ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_status_board                     ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_tasks                            ok   ok   ok   ok   ok   ok   403  ok   403  ok
list_teams                            ok   ok   ok   ok   ok   ok   ok   ok   403  ok
list_users                            ok   ok   ok   ok   ok   ok   ok   ok   403  ok
list_webhook_deliveries               ok   ok   403  403  403  403  403  403  403  404
list_webhooks                         ok   ok   403  403  403  403  403  403  403  ok
lose_opportunity                      ok   ok   ok   ok   ok   ok   403  ok   403  ok
mark_notification_read                404  404  404  404  404  404  404  403  403  404
merge_customer                        ok   ok   ok   ok   403  403  403  403  403  ok
merge_lead                            ok   ok   ok   ok   403  403  403  403  403  ok
metrics                               ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
put_wecom_app                         ok   403  403  403  403  403  403  403  403  ok
qualify_lead                          ok   ok   ok   404  ok   404  404  ok   403  404
readyz                                ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
record_engagement_events              ok   ok   403  403  403  403  403  ok   403  ok
record_playbook_use                   ok   ok   ok   ok   ok   ok   ok   ok   403  ok
refresh_token                         ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
release_lead                          ok   ok   ok   ok   ok   ok   ok   ok   403  ok
reopen_opportunity                    ok   ok   ok   ok   ok   ok   403  ok   403  ok
replace_quote_lines                   ok   ok   ok   ok   ok   ok   403  ok   403  ok
replay_notification_channel_delivery  404  404  403  403  403  403  403  403  403  404
replay_webhook_delivery               404  404  403  403  403  403  403  403  403  404
restore_activity                      ok   ok   ok   404  ok   404  403  403  403  404
restore_contact                       ok   ok   ok   404  ok   404  403  403  403  404
restore_customer                      ok   ok   ok   404  ok   404  403  403  403  404
restore_lead                          ok   ok   ok   404  ok   404  403  403  403  404
retrain_win_model                     ok   403  403  403  403  403  403  403  403  ok
revoke_api_key                        ok   403  403  403  403  403  403  403  403  404
rotate_intake_form_key                ok   403  403  403  403  403  ok   403  403  404
rotate_webhook_secret                 ok   ok   403  403  403  403  403  403  403  ok
search_records                        ok   ok   ok   ok   ok   ok   ok   ok   403  ok
sign_in_with_wecom                    ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
sign_out_device                       ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
sign_out_everywhere                   ok   ok   ok   ok   ok   ok   ok   403  403  ok
simulate_assignment                   ok   ok   ok   ok   403  403  403  ok   403  ok
submit_intake_form                    ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
undo_customer_merge                   ok   ok   ok   ok   403  403  403  403  403  ok
undo_lead_merge                       ok   ok   ok   ok   403  403  403  403  403  ok
update_activity                       ok   ok   ok   404  ok   404  403  ok   403  404
update_assignment_rule                ok   ok   403  403  403  403  403  403  403  404
update_business_calendar              ok   ok   403  403  403  403  403  403  403  404
update_campaign                       ok   ok   403  403  403  403  ok   ok   403  404
update_contact                        ok   ok   ok   404  ok   404  403  ok   403  404
update_customer                       ok   ok   ok   404  ok   404  403  ok   403  404
update_intake_form                    ok   403  403  403  403  403  ok   403  403  404
update_lead                           ok   ok   ok   404  ok   404  404  ok   403  404
update_notification_channel           ok   ok   403  403  403  403  403  403  403  404
update_opportunity                    ok   ok   ok   404  ok   404  403  ok   403  404
update_organization                   ok   403  403  403  403  403  403  403  403  ok
update_pipeline                       ok   ok   403  403  403  403  403  403  403  404
update_playbook_entry                 ok   ok   ok   ok   ok   404  404  404  403  404
update_product                        ok   ok   403  403  403  403  403  403  403  404
update_sla_policy                     ok   ok   403  403  403  403  403  403  403  404
update_task                           ok   ok   ok   404  ok   404  403  ok   403  404
update_team                           ok   ok   403  403  403  403  403  403  403  404
update_user                           ok   403  403  403  403  403  403  403  403  404
update_webhook                        ok   ok   403  403  403  403  403  403  403  404
upload_attachment                     ok   ok   ok   ok   ok   ok   403  ok   403  ok
win_opportunity                       ok   ok   ok   ok   ok   ok   403  ok   403  ok
"""
)


PROBE = {"matrix_probe": True}  # refused by every body model: allowed callers stop at 422
STALE = '"999999"'
DESTRUCTIVE = {
    "delete_team",
    "delete_webhook",
    "delete_notification_channel",
    "delete_assignment_rule",
    "delete_business_calendar",
    "delete_intake_form",
    "revoke_api_key",
    "delete_campaign_cost",
}


@dataclass
class World:
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)


async def _user(client: httpx.AsyncClient, tenant: Tenant, role: str) -> tuple[str, str]:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    body = {"username": username, "display_name": username, "password": PASSWORD, "role": role}
    created = ok(await client.post("/api/v1/users", json=body, headers=tenant.headers), 201)
    return created["id"], await sign_in(client, username)


async def _key(client: httpx.AsyncClient, tenant: Tenant, scopes: list[str]) -> dict[str, Any]:
    body = {"name": f"key {uuid.uuid4().hex[:6]}", "scopes": scopes}
    return ok(await client.post("/api/v1/api-keys", json=body, headers=tenant.headers), 201)


async def _build(client: httpx.AsyncClient, make_tenant: Any) -> World:
    tenant, foreign = await make_tenant("Matrix A"), await make_tenant("Matrix B")
    admin = tenant.headers
    world = World()
    ids = world.ids
    director = await _user(client, tenant, "director")
    sup_team = await _user(client, tenant, "supervisor")
    sup_other = await _user(client, tenant, "supervisor")
    rep_owner = await _user(client, tenant, "rep")
    rep_other = await _user(client, tenant, "rep")
    marketing = await _user(client, tenant, "marketing")
    team = ok(
        await client.post(
            "/api/v1/teams",
            json={"name": "华东一组", "supervisor_id": sup_team[0], "member_ids": [rep_owner[0]]},
            headers=admin,
        ),
        201,
    )
    ok(
        await client.post(
            "/api/v1/teams",
            json={"name": "华南一组", "supervisor_id": sup_other[0], "member_ids": [rep_other[0]]},
            headers=admin,
        ),
        201,
    )
    key_all = await _key(client, tenant, sorted(p.value for p in API_KEY_SCOPES))
    key_none = await _key(client, tenant, ["organization:read"])
    world.headers = {
        "admin": admin,
        "director": bearer(director[1]),
        "sup_team": bearer(sup_team[1]),
        "sup_other": bearer(sup_other[1]),
        "rep_owner": bearer(rep_owner[1]),
        "rep_other": bearer(rep_other[1]),
        "marketing": bearer(marketing[1]),
        "key_all": bearer(key_all["secret"]),
        "key_none": bearer(key_none["secret"]),
        "foreign": foreign.headers,
    }
    owner = world.headers["rep_owner"]
    ids["user_id"], ids["team_id"], ids["api_key_id"] = rep_owner[0], team["id"], key_none["id"]
    lead = ok(
        await client.post(
            "/api/v1/leads", json={"name": "王工", "phone": "13900000001", "source": "api"}, headers=owner
        ),
        201,
    )
    ids["lead_id"] = lead["id"]
    customer = ok(await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=owner), 201)
    ids["customer_id"] = customer["id"]
    contact = ok(
        await client.post(
            f"/api/v1/customers/{customer['id']}/contacts", json={"name": "李娜"}, headers=owner
        ),
        201,
    )
    ids["contact_id"] = contact["id"]
    opportunity = ok(
        await client.post(
            "/api/v1/opportunities", json={"name": "屋面工程", "customer_id": customer["id"]}, headers=owner
        ),
        201,
    )
    ids["opportunity_id"], ids["pipeline_id"] = opportunity["id"], opportunity["pipeline_id"]
    activity = {
        "type": "note",
        "occurred_at": "2026-11-23T01:00:00Z",
        "customer_id": customer["id"],
        "notes": "x",
    }
    ids["activity_id"] = ok(await client.post("/api/v1/activities", json=activity, headers=owner), 201)["id"]
    task = {"title": "回访", "due_at": "2026-11-30T10:00:00+08:00", "opportunity_id": opportunity["id"]}
    ids["task_id"] = ok(await client.post("/api/v1/tasks", json=task, headers=owner), 201)["id"]
    product = {"name": "卷材", "sku": "M-1", "unit": "㎡", "list_price": "42.5000", "currency": "CNY"}
    ids["product_id"] = ok(await client.post("/api/v1/products", json=product, headers=admin), 201)["id"]
    quote = {
        "opportunity_id": opportunity["id"],
        "lines": [{"product_id": ids["product_id"], "quantity": "10", "unit_price": "40.0000"}],
    }
    ids["quote_id"] = ok(await client.post("/api/v1/quotes", json=quote, headers=owner), 201)["id"]
    # Sent for approval by the owning rep: approvers and its author see it, other reps and keys not.
    entry = {"kind": "objection_answer", "title": "预算有限", "body": "分期付款", "approval_state": "pending"}
    ids["playbook_entry_id"] = ok(
        await client.post("/api/v1/playbook-entries", json=entry, headers=owner), 201
    )["id"]
    attachment = await client.post(
        "/api/v1/attachments",
        files={"file": ("note.txt", b"site notes", "text/plain")},
        data={"parent_type": "customer", "parent_id": customer["id"]},
        headers=owner,
    )
    ids["attachment_id"] = ok(attachment, 201)["id"]
    for name, factory in _ORG_RECORDS.items():
        ids[name] = await factory(client, admin)
    imported = await client.post(
        "/api/v1/leads/import",
        files={"file": ("l.csv", "name,phone\n张三,13900000002\n".encode(), "text/csv")},
        headers=admin,
    )
    ids["job_id"] = ok(imported, 202)["id"]
    # The owning rep's export: theirs and the admins' to see.
    ids["export_id"] = ok(await client.post("/api/v1/exports", json={"list": "leads"}, headers=owner), 202)[
        "id"
    ]
    # Paths that name records no one may see: every caller meets a 404 after its permission check.
    ids["notification_id"] = ids["delivery_id"] = str(uuid.uuid4())
    return world


async def _policy(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    body = {"name": f"首响 {uuid.uuid4().hex[:6]}", "kind": "first_response", "target_minutes": 30}
    return str(ok(await client.post("/api/v1/sla-policies", json=body, headers=admin), 201)["id"])


def _example(schema: str, **overrides: Any) -> dict[str, Any]:
    """The contract's own example of a request body."""
    document = json.loads(
        (Path(__file__).parents[2] / "openapi" / "openapi.json").read_text(encoding="utf-8")
    )
    return {**document["components"]["schemas"][schema]["examples"][0], **overrides}


async def _calendar(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    body = _example("BusinessCalendarCreate", name=f"日历 {uuid.uuid4().hex[:6]}", is_default=False)
    return str(ok(await client.post("/api/v1/business-calendars", json=body, headers=admin), 201)["id"])


async def _webhook(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    # A loopback receiver: the tests allow private addresses, and nothing resolves names here.
    body = {"url": "http://127.0.0.1:9/hooks/crm", "event_types": ["lead.assigned"]}
    return str(ok(await client.post("/api/v1/webhooks", json=body, headers=admin), 201)["id"])


async def _intake_form(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    body = {
        "name": f"表单 {uuid.uuid4().hex[:6]}",
        "field_mapping": {"contact_name": "name", "mobile": "phone"},
        "client_rate_limit": 100,
    }
    return dict(ok(await client.post("/api/v1/intake-forms", json=body, headers=admin), 201))


async def _intake_form_id(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    return str((await _intake_form(client, admin))["id"])


async def _form_key(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    # A form of its own: the matrix rotates the key of `intake_form_id`'s.
    return str((await _intake_form(client, admin))["key"])


async def _channel(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    body = {
        "kind": "wecom_robot",
        "name": f"群 {uuid.uuid4().hex[:6]}",
        "config": {"key": "k" * 36},
        "event_types": ["lead.assigned"],
    }
    return str(ok(await client.post("/api/v1/notification-channels", json=body, headers=admin), 201)["id"])


async def _rule(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    rep = ok(await client.get("/api/v1/users", params={"role": "rep", "limit": 1}, headers=admin))["items"][0]
    body = {
        "name": f"规则 {uuid.uuid4().hex[:6]}",
        "priority": 50,
        "strategy": "round_robin",
        "user_ids": [rep["id"]],
    }
    return str(ok(await client.post("/api/v1/assignment-rules", json=body, headers=admin), 201)["id"])


async def _campaign(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    body = {"name": f"活动 {uuid.uuid4().hex[:6]}", "channel": "exhibition"}
    return str(ok(await client.post("/api/v1/campaigns", json=body, headers=admin), 201)["id"])


async def _campaign_cost(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    """A cost of the world's one campaign."""
    [campaign] = ok(await client.get("/api/v1/campaigns", headers=admin))["items"]
    body = {"incurred_on": "2026-11-10", "amount": "1200.00"}
    path = f"/api/v1/campaigns/{campaign['id']}/costs"
    return str(ok(await client.post(path, json=body, headers=admin), 201)["id"])


async def _team(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    body = {"name": f"组 {uuid.uuid4().hex[:6]}"}
    return str(ok(await client.post("/api/v1/teams", json=body, headers=admin), 201)["id"])


async def _api_key(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    body = {"name": f"key {uuid.uuid4().hex[:6]}", "scopes": ["users:read"]}
    return str(ok(await client.post("/api/v1/api-keys", json=body, headers=admin), 201)["id"])


_ORG_RECORDS = {
    "policy_id": _policy,
    "calendar_id": _calendar,
    "webhook_id": _webhook,
    "channel_id": _channel,
    "rule_id": _rule,
    "intake_form_id": _intake_form_id,
    "form_key": _form_key,
    "campaign_id": _campaign,
    "cost_id": _campaign_cost,
}
_FRESH_FOR = {
    "delete_team": ("team_id", _team),
    "delete_webhook": ("webhook_id", _webhook),
    "delete_notification_channel": ("channel_id", _channel),
    "delete_assignment_rule": ("rule_id", _rule),
    "delete_business_calendar": ("calendar_id", _calendar),
    "delete_intake_form": ("intake_form_id", _intake_form_id),
    "revoke_api_key": ("api_key_id", _api_key),
    "delete_campaign_cost": ("cost_id", _campaign_cost),
}


async def _owned_lead(client: httpx.AsyncClient, owner: dict[str, str]) -> str:
    body = {"name": "删", "phone": f"139{uuid.uuid4().int % 10**8:08d}", "source": "api"}
    return str(ok(await client.post("/api/v1/leads", json=body, headers=owner), 201)["id"])


async def _owned_customer(client: httpx.AsyncClient, owner: dict[str, str]) -> str:
    body = {"name": f"删除客户 {uuid.uuid4().hex[:8]}"}
    return str(ok(await client.post("/api/v1/customers", json=body, headers=owner), 201)["id"])


async def _owned_contact(client: httpx.AsyncClient, owner: dict[str, str]) -> str:
    path = f"/api/v1/customers/{await _owned_customer(client, owner)}/contacts"
    return str(ok(await client.post(path, json={"name": "删"}, headers=owner), 201)["id"])


async def _owned_activity(client: httpx.AsyncClient, owner: dict[str, str]) -> str:
    body = {"type": "note", "occurred_at": "2026-11-23T01:00:00Z", "notes": "x"}
    body["customer_id"] = await _owned_customer(client, owner)
    return str(ok(await client.post("/api/v1/activities", json=body, headers=owner), 201)["id"])


# Soft deletes get a fresh record of the owning rep for each call (the table's owner rules hold).
_FRESH_OWNED_FOR = {
    "delete_lead": ("lead_id", _owned_lead),
    "delete_customer": ("customer_id", _owned_customer),
    "delete_contact": ("contact_id", _owned_contact),
    "delete_activity": ("activity_id", _owned_activity),
}


def _operations(app: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(operation id, method, path template, operation) of every operation in the app's schema."""
    schema = app.openapi()
    found = [
        (operation["operationId"], method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    # Signing out everywhere revokes the caller's tokens: it runs last.
    return sorted(found, key=lambda o: o[0] == "sign_out_everywhere")


def _classify(status: int) -> str:
    return str(status) if status in (401, 403, 404) else "ok"


async def _call(
    client: httpx.AsyncClient, world: World, operation: tuple[str, str, str, dict[str, Any]], who: str
) -> int:
    operation_id, method, path, spec = operation
    ids = dict(world.ids)
    if operation_id in _FRESH_FOR:
        name, factory = _FRESH_FOR[operation_id]
        ids[name] = await factory(client, world.headers["admin"])
    if operation_id in _FRESH_OWNED_FOR:
        name, owned = _FRESH_OWNED_FOR[operation_id]
        ids[name] = await owned(client, world.headers["rep_owner"])
    url = path.format(**ids)
    headers = world.headers[who]
    content = spec.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        response = await client.request(method, url, data={"matrix_probe": "1"}, headers=headers)
    elif "application/x-www-form-urlencoded" in content:
        response = await client.request(method, url, data={}, headers=headers)
    elif method == "PATCH":
        # A valid edit under a stale version: a caller who may see the record meets 412 after the
        # record is loaded, one who may not meets 404; nothing changes either way.
        response = await client.request(method, url, json={}, headers={**headers, "If-Match": STALE})
    elif content:
        response = await client.request(method, url, json=PROBE, headers=headers)
    else:
        response = await client.request(method, url, headers=headers)
    return response.status_code


async def test_every_operation_answers_every_principal_as_the_matrix_says(app, client, make_tenant):
    operations = _operations(app)
    world = await _build(client, make_tenant)
    observed: dict[str, list[str]] = {}
    for operation in operations:
        observed[operation[0]] = [_classify(await _call(client, world, operation, who)) for who in PRINCIPALS]
    if os.environ.get("CRM_PRINT_MATRIX"):  # to write a new operation's row
        print("\n".join(f'    "{op}": "{" ".join(row)}",' for op, row in sorted(observed.items())))
    assert set(observed) == set(MATRIX), "every operation needs a row in MATRIX"
    wrong = {
        op: {
            who: (want, got)
            for who, want, got in zip(PRINCIPALS, MATRIX[op].split(), row, strict=True)
            if want != got
        }
        for op, row in observed.items()
    }
    assert {op: diff for op, diff in wrong.items() if diff} == {}


# Uploading a file onto a record and downloading it follow the record's own GET (the get_lead,
# get_customer, get_opportunity and get_activity rows), except that an upload writes: marketing and
# a key without activities:write are refused by permission first.
ATTACHMENTS_BY_PARENT = _table(
    """
call                                  adm  dir  sup  sup' rep  rep' mkt  key  key0 frn
upload_onto_lead                      ok   ok   ok   404  ok   404  403  ok   403  404
upload_onto_customer                  ok   ok   ok   404  ok   404  403  ok   403  404
upload_onto_opportunity               ok   ok   ok   404  ok   404  403  ok   403  404
upload_onto_activity                  ok   ok   ok   404  ok   404  403  ok   403  404
download_from_lead                    ok   ok   ok   404  ok   404  403  ok   403  404
download_from_customer                ok   ok   ok   404  ok   404  403  ok   403  404
download_from_opportunity             ok   ok   ok   404  ok   404  403  ok   403  404
download_from_activity                ok   ok   ok   404  ok   404  403  ok   403  404
"""
)


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], parent_type: str, parent_id: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/attachments",
        files={"file": ("note.txt", b"site notes", "text/plain")},
        data={"parent_type": parent_type, "parent_id": parent_id},
        headers=headers,
    )


async def test_attachments_answer_every_principal_as_their_parent_does(client, make_tenant):
    world = await _build(client, make_tenant)
    observed: dict[str, list[str]] = {}
    for parent_type in ("lead", "customer", "opportunity", "activity"):
        parent_id = world.ids[f"{parent_type}_id"]
        observed[f"upload_onto_{parent_type}"] = [
            _classify((await _upload(client, world.headers[who], parent_type, parent_id)).status_code)
            for who in PRINCIPALS
        ]
        filed = ok(await _upload(client, world.headers["rep_owner"], parent_type, parent_id), 201)
        observed[f"download_from_{parent_type}"] = [
            _classify(
                (
                    await client.get(f"/api/v1/attachments/{filed['id']}", headers=world.headers[who])
                ).status_code
            )
            for who in PRINCIPALS
        ]
    assert {call: " ".join(row) for call, row in observed.items()} == {
        call: " ".join(row.split()) for call, row in ATTACHMENTS_BY_PARENT.items()
    }
