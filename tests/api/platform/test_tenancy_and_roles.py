"""Tenant isolation, the role permission matrix and row visibility."""

from __future__ import annotations

import uuid


async def test_another_organizations_user_answers_404_never_403(client, make_tenant, make_user):
    org_a = await make_tenant("A Building Materials")
    org_b = await make_tenant("B Building Materials")
    rep_a, _ = await make_user(org_a, "rep")

    for method, path in (
        ("GET", f"/api/v1/users/{rep_a['id']}"),
        ("PATCH", f"/api/v1/users/{rep_a['id']}"),
    ):
        response = await client.request(
            method, path, headers=org_b.headers, json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "user.not_found"
    listed = await client.get("/api/v1/users", headers=org_b.headers)
    assert rep_a["id"] not in {u["id"] for u in listed.json()["items"]}
    unknown = await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=org_b.headers)
    assert unknown.status_code == 404
    assert unknown.json()["detail"].endswith("was not found.")


async def test_a_rep_cannot_create_users_or_teams(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    headers = {"Authorization": f"Bearer {rep_token}"}
    created = await client.post(
        "/api/v1/users",
        json={"username": "intruder", "display_name": "x", "password": "password123", "role": "admin"},
        headers=headers,
    )
    assert created.status_code == 403
    assert created.headers["content-type"] == "application/problem+json"
    assert created.json()["detail"] == "Your role lacks the permission users:write."
    team = await client.post("/api/v1/teams", json={"name": "mine"}, headers=headers)
    assert team.status_code == 403
    check = await client.get("/api/v1/users", params={"q": "intruder"}, headers=tenant.headers)
    assert check.json()["items"] == []


async def test_visibility_rep_sees_self_supervisor_sees_team_director_sees_all(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep_in_team, rep_token = await make_user(tenant, "rep")
    rep_elsewhere, _ = await make_user(tenant, "rep")
    director, director_token = await make_user(tenant, "director")
    team = await client.post(
        "/api/v1/teams",
        json={
            "name": "East",
            "region": "华东",
            "supervisor_id": supervisor["id"],
            "member_ids": [rep_in_team["id"]],
        },
        headers=tenant.headers,
    )
    assert team.status_code == 201, team.text

    async def visible(token: str) -> set[str]:
        response = await client.get(
            "/api/v1/users", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
        return {u["id"] for u in response.json()["items"]}

    assert await visible(rep_token) == {rep_in_team["id"]}
    assert await visible(supervisor_token) == {supervisor["id"], rep_in_team["id"]}
    assert await visible(director_token) == {
        tenant.admin_id.__str__(),
        supervisor["id"],
        rep_in_team["id"],
        rep_elsewhere["id"],
        director["id"],
    }
    hidden = await client.get(
        f"/api/v1/users/{rep_elsewhere['id']}", headers={"Authorization": f"Bearer {supervisor_token}"}
    )
    assert hidden.status_code == 404


async def test_admin_manages_users_and_every_change_is_audited(client, make_tenant, make_user, app):
    from sqlalchemy import select

    from app.domain.models import AuditEvent

    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep", email="Wang.Fang@Example.com")
    assert rep["email"] == "Wang.Fang@example.com"
    duplicate = await client.post(
        "/api/v1/users",
        json={
            "username": rep["username"].upper(),
            "display_name": "x",
            "password": "password123",
            "role": "rep",
        },
        headers=tenant.headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"] == [
        {"field": "username", "code": "unique", "message": "already in use"}
    ]

    promoted = await client.patch(
        f"/api/v1/users/{rep['id']}", json={"role": "supervisor", "phone": None}, headers=tenant.headers
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "supervisor"
    assert promoted.json()["version"] == rep["version"] + 1

    null_role = await client.patch(f"/api/v1/users/{rep['id']}", json={"role": None}, headers=tenant.headers)
    assert null_role.status_code == 422

    self_lockout = await client.patch(
        f"/api/v1/users/{tenant.admin_id}", json={"is_active": False}, headers=tenant.headers
    )
    assert self_lockout.status_code == 422
    assert self_lockout.json()["code"] == "user.self_lockout"

    async with app.state.runtime.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_id == uuid.UUID(rep["id"]))
                .order_by(AuditEvent.occurred_at, AuditEvent.action)
            )
        ).all()
    assert [e.action for e in events] == ["user.created", "user.updated"]
    assert events[1].before == {"role": "rep"}
    assert events[1].after == {"role": "supervisor"}
    assert events[1].actor_id == tenant.admin_id
    assert events[1].request_id is not None


async def test_team_crud_validates_members_and_keeps_names_unique(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    other_org = await make_tenant("Other")
    foreign_rep, _ = await make_user(other_org, "rep")

    foreign = await client.post(
        "/api/v1/teams", json={"name": "East", "member_ids": [foreign_rep["id"]]}, headers=tenant.headers
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "member_ids"

    created = await client.post(
        "/api/v1/teams", json={"name": "East", "member_ids": [rep["id"]]}, headers=tenant.headers
    )
    assert created.status_code == 201
    again = await client.post("/api/v1/teams", json={"name": "East"}, headers=tenant.headers)
    assert again.status_code == 409
    same_name_elsewhere = await client.post("/api/v1/teams", json={"name": "East"}, headers=other_org.headers)
    assert same_name_elsewhere.status_code == 201

    team_id = created.json()["id"]
    emptied = await client.patch(f"/api/v1/teams/{team_id}", json={"member_ids": []}, headers=tenant.headers)
    assert emptied.status_code == 200
    assert emptied.json()["member_ids"] == []
    assert emptied.json()["version"] == created.json()["version"] + 1

    stale = await client.delete(f"/api/v1/teams/{team_id}", headers={**tenant.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    deleted = await client.delete(f"/api/v1/teams/{team_id}", headers=tenant.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/teams/{team_id}", headers=tenant.headers)
    assert gone.status_code == 404
