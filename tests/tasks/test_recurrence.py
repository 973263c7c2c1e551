"""Recurring tasks: the rule is validated, the REST task shows it and the next due date,
and completing an occurrence creates exactly one next one, with its reminders."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api, User

WEEKLY = {"rule": "FREQ=WEEKLY;BYDAY=MO,WE", "tz": "Europe/Paris"}


async def successors(user: User, ws: int, task_id: int) -> list[dict[str, Any]]:
    r = await user.get(f"/workspaces/{ws}/tasks", params={"limit": 200})
    return [t for t in r.json()["items"] if t["follows_id"] == task_id]


async def test_completing_creates_the_next_occurrence_in_local_time(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))
    # Wednesday 24 March 2027, 09:00 in Paris (CET); Europe moves to summer time on the 28th.
    task = await alice.task(
        ws,
        title="Stand-up",
        priority="high",
        assignee_id=bob.id,
        due_date="2027-03-24T09:00:00+01:00",
        recurrence={**WEEKLY, "rule": "rrule:freq=weekly;byday=mo,we"},
    )
    assert task["recurrence"] == {
        "rule": "FREQ=WEEKLY;BYDAY=MO,WE",
        "tz": "Europe/Paris",
        "next_due_date": "2027-03-29T07:00:00Z",  # Monday, 09:00 in Paris (CEST)
    }
    assert task["follows_id"] is None
    r = await bob.post(f"/tasks/{task['id']}/complete")
    assert r.status_code == 200 and r.json()["status"] == "done"
    [following] = await successors(alice, ws, task["id"])
    assert following["due_date"] == "2027-03-29T07:00:00Z"
    assert following["status"] == "todo" and following["completed_at"] is None
    assert (following["title"], following["priority"]) == ("Stand-up", "high")
    assert (following["assignee_id"], following["user_id"]) == (bob.id, alice.id)
    assert following["recurrence"]["next_due_date"] == "2027-03-31T07:00:00Z"
    # Reopened and completed again, it does not make a second one.
    await bob.patch(f"/tasks/{task['id']}", json={"status": "todo"})
    await bob.post(f"/tasks/{task['id']}/complete")
    assert len(await successors(alice, ws, task["id"])) == 1


async def test_reminders_are_carried_over(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    due = datetime(2027, 5, 3, 8, tzinfo=UTC)
    task = await alice.task(
        ws, due_date=due.isoformat(), recurrence={"rule": "FREQ=DAILY;INTERVAL=2", "tz": "UTC"}
    )
    for body in ({"before_s": 900}, {"at": (due - timedelta(days=1)).isoformat()}):
        assert (await alice.post(f"/tasks/{task['id']}/reminders", json=body)).status_code == 201
    await alice.post(f"/tasks/{task['id']}/complete")
    [following] = await successors(alice, ws, task["id"])
    assert following["due_date"] == "2027-05-05T08:00:00Z"
    r = await alice.get(f"/tasks/{following['id']}/reminders")
    carried = [(x["before_s"], x["at"], x["fire_at"], x["status"]) for x in r.json()["items"]]
    assert carried == [
        (900, None, "2027-05-05T07:45:00Z", "pending"),
        (None, "2027-05-04T08:00:00Z", "2027-05-04T08:00:00Z", "pending"),  # moved 2 days
    ]


async def test_concurrent_completions_make_one_next_occurrence(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(
        ws, due_date="2027-01-04T09:00:00Z", recurrence={"rule": "FREQ=DAILY", "tz": "UTC"}
    )
    path = f"/tasks/{task['id']}"
    answers = await asyncio.gather(
        *(alice.post(path + "/complete") for _ in range(4)),
        *(alice.patch(path, json={"status": "done"}) for _ in range(4)),
    )
    assert {r.status_code for r in answers} == {200}
    assert len(await successors(alice, ws, task["id"])) == 1


async def test_a_series_ends_with_its_count_and_can_be_stopped(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    recurrence = {"rule": "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=2", "tz": "UTC"}
    first = await alice.task(ws, due_date="2027-01-31T12:00:00Z", recurrence=recurrence)
    assert first["recurrence"]["next_due_date"] == "2027-03-31T12:00:00Z"  # no 31 February
    await alice.post(f"/tasks/{first['id']}/complete")
    [second] = await successors(alice, ws, first["id"])
    assert second["recurrence"]["next_due_date"] is None  # the second of two
    await alice.post(f"/tasks/{second['id']}/complete")
    assert await successors(alice, ws, second["id"]) == []
    # PATCH recurrence null: an ordinary task, whose due date may then be cleared.
    r = await alice.patch(f"/tasks/{second['id']}", json={"recurrence": None, "due_date": None})
    assert r.status_code == 200 and r.json()["recurrence"] is None


async def test_the_time_zone_defaults_to_the_users(api: Api) -> None:
    alice = await api.user()
    r = await alice.patch("/users/me", json={"timezone": "America/New_York"})
    assert r.status_code == 200, r.text
    ws = await alice.workspace()
    task = await alice.task(ws, due_date="2027-07-01T13:00:00Z", recurrence={"rule": "FREQ=YEARLY"})
    assert task["recurrence"]["tz"] == "America/New_York"
    assert task["recurrence"]["next_due_date"] == "2028-07-01T13:00:00Z"


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"recurrence": {"rule": "FREQ=DAILY"}}, "needs a due_date"),
        ({"recurrence": {"rule": "FREQ=HOURLY"}}, "FREQ=DAILY, WEEKLY, MONTHLY or YEARLY"),
        ({"recurrence": {"rule": "BYDAY=MO"}}, "FREQ=DAILY, WEEKLY"),
        ({"recurrence": {"rule": "FREQ=DAILY;BYHOUR=9"}}, "'BYHOUR' is not supported"),
        ({"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=XX"}}, "not a valid RRULE"),
        ({"recurrence": {"rule": "FREQ=DAILY;INTERVAL=0"}}, "INTERVAL must be"),
        ({"recurrence": {"rule": "FREQ=DAILY;COUNT=2;UNTIL=20300101T000000Z"}}, "COUNT and"),
        ({"recurrence": {"rule": "FREQ=DAILY;UNTIL=20300101"}}, "UTC"),
        ({"recurrence": {"rule": "FREQ=DAILY;UNTIL=20200101T000000Z"}}, "ends"),
        ({"recurrence": {"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}}, "no occurrence"),
        ({"recurrence": {"rule": "FREQ=DAILY", "tz": "Mars/Olympus"}}, "IANA time zone"),
        ({"recurrence": {"rule": "FREQ=DAILY", "tz": "../../etc/passwd"}}, "IANA time zone"),
        ({"recurrence": {"rule": "FREQ=DAILY;FREQ=WEEKLY"}}, "given twice"),
        ({"recurrence": {"rule": ""}}, "at least 1 character"),
        ({"recurrence": {"rule": "FREQ=DAILY", "extra": 1}}, "Extra inputs"),
    ],
)
async def test_bad_recurrence_is_422(api: Api, fields: dict[str, Any], detail: str) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    body = {"title": "T", **fields}
    if "needs a due_date" not in detail:
        body["due_date"] = "2027-01-04T09:00:00Z"
    r = await alice.post(f"/workspaces/{ws}/tasks", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert detail in r.text


async def test_a_recurring_task_keeps_its_due_date(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws, due_date="2027-01-04T09:00:00Z")
    r = await alice.patch(f"/tasks/{task['id']}", json={"recurrence": {"rule": "FREQ=DAILY"}})
    assert r.status_code == 200 and r.json()["recurrence"]["rule"] == "FREQ=DAILY"
    r = await alice.patch(f"/tasks/{task['id']}", json={"due_date": None})
    assert r.status_code == 422 and "clear `recurrence`" in r.text
