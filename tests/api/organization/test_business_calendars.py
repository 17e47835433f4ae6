"""/business-calendars through the API: validation lists every problem, one default per organization,
the default drives SLA timers (with China's public holidays when asked), and roles and tenants hold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.api.sla.test_sla import _first_response_policy, _lead_for, _supervised_rep, _timer

URL = "/api/v1/business-calendars"
LUNCH_DAY = [["13:30", "18:00"], ["09:00", "12:00"]]  # any order; answered sorted
WEEKDAYS = {str(day): LUNCH_DAY for day in range(1, 6)}


def _calendar(name: str = "上海办公室", **fields: object) -> dict:
    return {"name": name, "timezone": "Asia/Shanghai", "week": WEEKDAYS, **fields}


async def _create(client, tenant, name: str = "上海办公室", **fields: object) -> dict:
    response = await client.post(URL, json=_calendar(name, **fields), headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _due(client, tenant, calendar_id: str, start: str, minutes: int) -> str:
    response = await client.get(
        f"{URL}/{calendar_id}/add-minutes",
        params={"start": start, "minutes": minutes},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["due_at"])


async def test_a_calendar_with_a_lunch_break_a_holiday_and_a_make_up_day(client, make_tenant):
    tenant = await make_tenant()
    created = await client.post(
        URL,
        json=_calendar(holidays=["2026-12-31"], workdays={"2026-12-26": [["09:00", "12:00"]]}),
        headers={**tenant.headers, "Idempotency-Key": "calendar-1"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["week"]["1"] == [["09:00", "12:00"], ["13:30", "18:00"]]
    assert body["holidays"] == ["2026-12-31"]
    assert body["workdays"] == {"2026-12-26": [["09:00", "12:00"]]}
    assert body["public_holidays"] is None
    assert body["is_default"] is False
    assert created.headers["location"] == f"{URL}/{body['id']}"

    read = await client.get(f"{URL}/{body['id']}", headers=tenant.headers)
    assert read.json() == body
    assert read.headers["etag"] == created.headers["etag"]
    listed = await client.get(URL, headers=tenant.headers)
    assert [c["id"] for c in listed.json()["items"]] == [body["id"]]

    # Monday 11:50 Shanghai + 20 minutes: 10 before lunch, 10 after it.
    assert await _due(client, tenant, body["id"], "2026-11-23T11:50:00+08:00", 20) == "2026-11-23T05:40:00Z"
    # Friday 25 Dec 17:50 + 30: 10 that day, 20 on the make-up Saturday morning.
    assert await _due(client, tenant, body["id"], "2026-12-25T17:50:00+08:00", 30) == "2026-12-26T01:20:00Z"
    # Wednesday 30 Dec 17:50 + 30: the 31st is a holiday, so 20 on Friday 1 January.
    assert await _due(client, tenant, body["id"], "2026-12-30T17:50:00+08:00", 30) == "2027-01-01T01:20:00Z"
    naive = await client.get(
        f"{URL}/{body['id']}/add-minutes",
        params={"start": "2026-12-30T17:50:00", "minutes": 30},
        headers=tenant.headers,
    )
    assert naive.status_code == 422

    renamed = await client.patch(
        f"{URL}/{body['id']}",
        json={"name": "上海总部", "holidays": []},
        headers={**tenant.headers, "If-Match": read.headers["etag"]},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "上海总部"
    assert renamed.json()["holidays"] == []
    assert renamed.json()["week"] == body["week"]  # left out, kept
    stale = await client.patch(
        f"{URL}/{body['id']}",
        json={"name": "x"},
        headers={**tenant.headers, "If-Match": read.headers["etag"]},
    )
    assert stale.status_code == 412

    duplicate = await client.post(URL, json=_calendar("上海总部"), headers=tenant.headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "business_calendar.name_taken"


async def test_every_problem_of_a_calendar_is_listed_in_one_answer(client, make_tenant):
    tenant = await make_tenant()
    response = await client.post(
        URL,
        json={
            "name": "坏日历",
            "timezone": "Asia/Beijing",
            "week": {"1": [["09:00", "12:00"], ["11:00", "18:00"]], "8": [["09:00", "18:00"]]},
            "holidays": ["2026-02-30", "tomorrow"],
            "workdays": {"2026-13-01": [["09:00", "18:00"]], "2026-10-10": [["18:00", "09:00"]]},
        },
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "calendar.invalid"
    assert {(e["field"], e["code"]) for e in problem["errors"]} == {
        ("timezone", "timezone.unknown"),
        ("week.1[1]", "calendar.overlap"),
        ("week.8", "calendar.weekday"),
        ("holidays[0]", "calendar.date"),
        ("holidays[1]", "calendar.date"),
        ("workdays.2026-13-01", "calendar.date"),
        ("workdays.2026-10-10[0]", "calendar.interval"),
    }

    no_work = await client.post(URL, json=_calendar(week={"6": []}), headers=tenant.headers)
    assert no_work.status_code == 422
    assert [e["code"] for e in no_work.json()["errors"]] == ["calendar.no_working_time"]
    unknown_region = await client.post(URL, json=_calendar(public_holidays="US"), headers=tenant.headers)
    assert unknown_region.status_code == 422
    assert (await client.get(URL, headers=tenant.headers)).json()["items"] == []

    calendar = await _create(client, tenant)
    bad_patch = await client.patch(
        f"{URL}/{calendar['id']}", json={"timezone": "Mars/Olympus"}, headers=tenant.headers
    )
    assert bad_patch.status_code == 422
    assert [e["field"] for e in bad_patch.json()["errors"]] == ["timezone"]
    too_far = await client.get(
        f"{URL}/{calendar['id']}/add-minutes",
        params={"start": "2026-11-23T10:00:00+08:00", "minutes": -1},
        headers=tenant.headers,
    )
    assert too_far.status_code == 422


async def test_the_default_calendar_with_chinese_public_holidays_drives_sla_timers(
    client, app, make_tenant, make_user, clock
):
    clock.now = datetime(2026, 9, 30, 9, 50, tzinfo=UTC)  # Wednesday 17:50 in Shanghai, eve of 国庆
    tenant = await make_tenant()
    nine_to_six = {str(day): [["09:00", "18:00"]] for day in range(1, 6)}
    calendar = await _create(client, tenant, week=nine_to_six, public_holidays="CN", is_default=True)
    # The stored calendar is what was sent; the statutory dates are merged in when it is used.
    assert calendar["holidays"] == []
    assert calendar["workdays"] == {}
    assert (
        await _due(client, tenant, calendar["id"], "2026-09-30T17:50:00+08:00", 30) == "2026-10-08T01:20:00Z"
    )
    # 10 October 2026 (Saturday) is a make-up working day.
    assert (
        await _due(client, tenant, calendar["id"], "2026-10-09T17:50:00+08:00", 30) == "2026-10-10T01:20:00Z"
    )

    await _first_response_policy(client, tenant)
    rep, _, _ = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)
    # 10 minutes on 30 September; 1-7 October are public holidays; 20 more minutes on Thursday 8th.
    assert (await _timer(client, tenant, lead["id"]))["due_at"] == "2026-10-08T01:20:00Z"


async def test_only_one_calendar_is_the_default_and_it_cannot_be_deleted(client, make_tenant):
    tenant = await make_tenant()
    first = await _create(client, tenant, "上海", is_default=True)
    second = await _create(client, tenant, "深圳", is_default=True)

    async def defaults() -> list[str]:
        listed = (await client.get(URL, headers=tenant.headers)).json()["items"]
        return [c["name"] for c in listed if c["is_default"]]

    assert await defaults() == ["深圳"]
    switched = await client.patch(f"{URL}/{first['id']}", json={"is_default": True}, headers=tenant.headers)
    assert switched.status_code == 200, switched.text
    assert await defaults() == ["上海"]

    refused = await client.delete(f"{URL}/{first['id']}", headers=tenant.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "business_calendar.in_use"
    assert (await client.delete(f"{URL}/{second['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"{URL}/{second['id']}", headers=tenant.headers)).status_code == 404

    unset = await client.patch(f"{URL}/{first['id']}", json={"is_default": False}, headers=tenant.headers)
    assert unset.status_code == 200
    assert (await client.delete(f"{URL}/{first['id']}", headers=tenant.headers)).status_code == 204


async def test_reps_read_but_cannot_write_and_other_tenants_see_nothing(client, make_tenant, make_user):
    tenant = await make_tenant()
    calendar = await _create(client, tenant)
    _, rep_token = await make_user(tenant, "rep")
    rep = {"Authorization": f"Bearer {rep_token}"}
    assert (await client.get(f"{URL}/{calendar['id']}", headers=rep)).status_code == 200
    assert (await client.post(URL, json=_calendar("代表的"), headers=rep)).status_code == 403
    assert (await client.patch(f"{URL}/{calendar['id']}", json={"name": "x"}, headers=rep)).status_code == 403
    assert (await client.delete(f"{URL}/{calendar['id']}", headers=rep)).status_code == 403

    other = await make_tenant("Other Trading")
    assert (await client.get(f"{URL}/{calendar['id']}", headers=other.headers)).status_code == 404
    assert (await client.delete(f"{URL}/{calendar['id']}", headers=other.headers)).status_code == 404
    moved = await client.patch(f"{URL}/{calendar['id']}", json={"name": "x"}, headers=other.headers)
    assert moved.status_code == 404
    due = await client.get(
        f"{URL}/{calendar['id']}/add-minutes",
        params={"start": "2026-11-23T10:00:00+08:00", "minutes": 5},
        headers=other.headers,
    )
    assert due.status_code == 404
    assert (await client.get(URL, headers=other.headers)).json()["items"] == []


async def test_concurrent_requests_for_the_default_leave_exactly_one(client, make_tenant):
    tenant = await make_tenant()
    existing = await _create(client, tenant, "总部", is_default=True)
    responses = await asyncio.gather(
        *(
            client.post(URL, json=_calendar(f"分公司{n}", is_default=True), headers=tenant.headers)
            for n in range(4)
        ),
        client.patch(f"{URL}/{existing['id']}", json={"is_default": True}, headers=tenant.headers),
    )
    assert [r.status_code for r in responses] == [201, 201, 201, 201, 200]
    listed = (await client.get(URL, headers=tenant.headers)).json()["items"]
    assert len(listed) == 5
    assert sum(c["is_default"] for c in listed) == 1
