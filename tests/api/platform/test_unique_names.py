"""Teams, pipelines, assignment rules and SLA policies carry names unique within the organization:
a second record of the name, or a rename onto a taken one, answers 409 `<record>.name_taken`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import ok

_STAGES = [
    {"name": "拜访", "kind": "open", "probability": 20},
    {"name": "赢单", "kind": "won", "probability": 100},
    {"name": "输单", "kind": "lost", "probability": 0},
]

# path: (what a record needs besides its name, given a rep of the organization; entity; message)
NAMED = {
    "/api/v1/teams": (lambda rep_id: {}, "team", "A team"),
    "/api/v1/pipelines": (lambda rep_id: {"stages": _STAGES}, "pipeline", "A pipeline"),
    "/api/v1/assignment-rules": (
        lambda rep_id: {"priority": 10, "strategy": "round_robin", "user_ids": [rep_id]},
        "assignment_rule",
        "An assignment rule",
    ),
    "/api/v1/sla-policies": (
        lambda rep_id: {"kind": "first_response", "target_minutes": 30},
        "sla_policy",
        "An SLA policy",
    ),
}


async def _create(client: Any, tenant: Any, rep: dict[str, Any], path: str, name: str) -> Any:
    body = {"name": name, **NAMED[path][0](rep["id"])}
    return await client.post(path, json=body, headers=tenant.headers)


@pytest.mark.parametrize("path", NAMED)
async def test_a_name_taken_in_the_organization_is_refused_on_create_and_on_rename(
    client, make_tenant, make_user, path
):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    _, entity, described_as = NAMED[path]
    east = ok(await _create(client, tenant, rep, path, "华东"), 201)
    west = ok(await _create(client, tenant, rep, path, "华西"), 201)

    again = await _create(client, tenant, rep, path, "华东")
    renamed = await client.patch(f"{path}/{west['id']}", json={"name": "华东"}, headers=tenant.headers)

    for refused in (again, renamed):
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["code"] == f"{entity}.name_taken"
        assert problem["detail"] == f"{described_as} named '华东' exists."
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [("name", "unique")]
    # A record keeps its own name; another organization may take it.
    kept = await client.patch(f"{path}/{east['id']}", json={"name": "华东"}, headers=tenant.headers)
    assert kept.status_code == 200, kept.text
    other = await make_tenant("Other")
    other_rep, _ = await make_user(other, "rep")
    ok(await _create(client, other, other_rep, path, "华东"), 201)
