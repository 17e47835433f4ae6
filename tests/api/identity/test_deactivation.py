"""Who may deactivate whom: one rank rule and a last-admin guard on every path (PATCH and handover)."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.helpers import bearer, ok


async def _hand_over(client, token, leaving_id, receiver_id, *, deactivate=True):
    return await client.post(
        f"/api/v1/users/{leaving_id}/handover",
        json={"to_user_id": receiver_id, "deactivate": deactivate},
        headers=bearer(token),
    )


async def _is_active(client, tenant, user_id) -> bool:
    return bool(ok(await client.get(f"/api/v1/users/{user_id}", headers=tenant.headers))["is_active"])


@pytest.mark.parametrize("target_role", ["admin", "director"])
async def test_a_director_cannot_deactivate_an_admin_or_a_director_through_handover(
    client, make_tenant, make_user, target_role
):
    tenant = await make_tenant()
    _, director_token = await make_user(tenant, "director")
    target, _ = await make_user(tenant, target_role)
    receiver, _ = await make_user(tenant, "rep")

    refused = await _hand_over(client, director_token, target["id"], receiver["id"])

    assert refused.status_code == 403
    assert refused.json()["code"] == "user.outranked"
    assert await _is_active(client, tenant, target["id"])


async def test_a_director_still_hands_over_and_deactivates_a_leaving_rep(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, director_token = await make_user(tenant, "director")
    leaving, _ = await make_user(tenant, "rep")
    receiver, _ = await make_user(tenant, "rep")

    done = ok(await _hand_over(client, director_token, leaving["id"], receiver["id"]))

    assert done["deactivated"] is True
    assert not await _is_active(client, tenant, leaving["id"])


async def test_the_only_admin_cannot_hand_over_and_deactivate_themselves(client, make_tenant, make_user):
    tenant = await make_tenant()
    receiver, _ = await make_user(tenant, "rep")

    refused = await _hand_over(client, tenant.token, str(tenant.admin_id), receiver["id"])

    assert refused.status_code == 422
    assert refused.json()["code"] == "user.self_lockout"
    assert await _is_active(client, tenant, tenant.admin_id)
    # Nothing moved either: the refusal comes before the handover writes anything.
    audit = ok(await client.get("/api/v1/audit-events", headers=tenant.headers))
    assert not [e for e in audit["items"] if e["action"].endswith("owner_changed")]


async def test_two_admins_deactivating_each_other_at_once_leave_one_active(client, make_tenant, make_user):
    tenant = await make_tenant()
    second, second_token = await make_user(tenant, "admin")

    answers = await asyncio.gather(
        client.patch(f"/api/v1/users/{second['id']}", json={"is_active": False}, headers=tenant.headers),
        client.patch(
            f"/api/v1/users/{tenant.admin_id}", json={"is_active": False}, headers=bearer(second_token)
        ),
    )

    # Either the second request was refused by the guard, or it came after the first had committed
    # and its own admin was already signed out; never may both succeed.
    first, second_answer = (a.status_code for a in answers)
    assert sorted([first, second_answer]) in ([200, 401], [200, 409])
    refused = next(a for a in answers if a.status_code != 200)
    assert refused.json()["code"] in ("user.last_admin", "auth.invalid_token", "auth.user_inactive")
    remaining = tenant.headers if first == 200 else bearer(second_token)
    active = ok(await client.get("/api/v1/users?role=admin&is_active=true", headers=remaining))
    assert len(active["items"]) == 1


async def test_an_admin_may_deactivate_another_admin_while_one_remains(client, make_tenant, make_user):
    tenant = await make_tenant()
    second, _ = await make_user(tenant, "admin")

    ok(await client.patch(f"/api/v1/users/{second['id']}", json={"is_active": False}, headers=tenant.headers))

    assert not await _is_active(client, tenant, second["id"])
