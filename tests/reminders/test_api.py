"""Reminders, overdue notices and recurring tasks through the REST API, in process: the
app's scheduler runs, so reminders really fire (due a second or two ahead)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api, User


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def inbox(user: User, kind: str) -> list[dict[str, Any]]:
    r = await user.get("/notifications", params={"limit": 200})
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["type"] == kind]


async def wait_for(user: User, kind: str, count: int = 1, timeout: float = 15) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await inbox(user, kind)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} {kind} notification(s) did not arrive")


async def remind(user: User, task_id: int, **body: Any) -> dict[str, Any]:
    r = await user.post(f"/tasks/{task_id}/reminders", json=body)
    assert r.status_code == 201, r.text
    reminder: dict[str, Any] = r.json()
    return reminder


async def reminders(user: User, task_id: int) -> list[dict[str, Any]]:
    r = await user.get(f"/tasks/{task_id}/reminders")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_reminder_fires_once_for_its_recipient(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))
    task = await alice.task(ws, title="Call the bank", assignee_id=bob.id)
    made = await remind(alice, task["id"], at=soon(1))
    assert made["user_id"] == bob.id and made["created_by_id"] == alice.id  # the assignee
    assert made["status"] == "pending" and made["fire_at"] is not None
    [note] = await wait_for(bob, "task_reminder")
    assert note["title"] == "Task Reminder"
    assert note["content"] == "Reminder: 'Call the bank'"
    assert (note["related_entity_type"], note["related_entity_id"]) == ("task", task["id"])
    await asyncio.sleep(1.5)
    assert len(await inbox(bob, "task_reminder")) == 1
    assert await inbox(alice, "task_reminder") == []
    [fired] = await reminders(alice, task["id"])
    assert fired["status"] == "fired" and fired["fire_at"] is None and fired["fired_at"]


async def test_relative_reminders_follow_the_due_date(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    due = datetime.now(UTC) + timedelta(hours=2)
    task = await alice.task(ws, title="Report", due_date=due.isoformat())
    made = await remind(alice, task["id"], before_s=3600)
    assert made["user_id"] == alice.id  # nobody assigned: the owner
    assert _near(made["fire_at"], due - timedelta(hours=1))
    later = due + timedelta(days=1)
    r = await alice.patch(f"/tasks/{task['id']}", json={"due_date": later.isoformat()})
    assert r.status_code == 200
    [moved] = await reminders(alice, task["id"])
    assert _near(moved["fire_at"], later - timedelta(hours=1))
    r = await alice.patch(f"/tasks/{task['id']}", json={"due_date": None})
    [idle] = await reminders(alice, task["id"])
    assert idle["status"] == "inactive" and idle["fire_at"] is None
    # A due date an hour and a second ahead: it fires, in a relative reminder's words.
    r = await alice.patch(f"/tasks/{task['id']}", json={"due_date": soon(3601)})
    [note] = await wait_for(alice, "task_reminder")
    assert note["content"].startswith("'Report' is due in 1 hour (")


def _near(value: str, expected: datetime) -> bool:
    return abs(datetime.fromisoformat(value) - expected) < timedelta(milliseconds=2)


async def test_completed_or_deleted_tasks_reminders_never_fire(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    done, gone, live = [await alice.task(ws, title=t) for t in ("done", "gone", "live")]
    for task in (done, gone, live):
        await remind(alice, task["id"], at=soon(1.5))
    assert (await alice.post(f"/tasks/{done['id']}/complete")).status_code == 200
    assert (await alice.delete(f"/tasks/{gone['id']}")).status_code == 204
    [note] = await wait_for(alice, "task_reminder")  # the live task's
    assert note["related_entity_id"] == live["id"]
    await asyncio.sleep(1)
    assert len(await inbox(alice, "task_reminder")) == 1
    [inactive] = await reminders(alice, done["id"])
    assert inactive["status"] == "inactive" and inactive["fired_at"] is None
    # Its moment passed while the task was closed: reopening does not announce it late.
    r = await alice.patch(f"/tasks/{done['id']}", json={"status": "todo"})
    assert r.status_code == 200
    assert (await reminders(alice, done["id"]))[0]["status"] == "inactive"


async def test_restoring_or_reopening_re_arms_reminders_still_ahead(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws, title="Later")
    await remind(alice, task["id"], at=soon(3600))
    await alice.delete(f"/tasks/{task['id']}")
    assert (await reminders(alice, task["id"]))[0]["status"] == "inactive"
    await alice.post(f"/tasks/{task['id']}/restore")
    assert (await reminders(alice, task["id"]))[0]["status"] == "pending"
    await alice.post(f"/tasks/{task['id']}/complete")
    assert (await reminders(alice, task["id"]))[0]["status"] == "inactive"
    await alice.patch(f"/tasks/{task['id']}", json={"status": "in_progress"})
    assert (await reminders(alice, task["id"]))[0]["status"] == "pending"


async def test_a_muted_task_reminder_is_neither_stored_nor_pushed(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    r = await alice.request(
        "PUT", "/notifications/preferences", json={"muted": ["task_reminder", "task_overdue"]}
    )
    assert r.status_code == 200, r.text
    task = await alice.task(ws, title="Quiet", due_date=soon(1.5))
    await remind(alice, task["id"], at=soon(1))
    deadline = time.monotonic() + 15
    while (await reminders(alice, task["id"]))[0]["status"] != "fired":
        assert time.monotonic() < deadline, "the reminder did not fire"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # the due date passes too
    assert await inbox(alice, "task_reminder") == []
    assert await inbox(alice, "task_overdue") == []


async def test_an_overdue_task_notifies_its_assignee_once(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))
    task = await alice.task(ws, title="Taxes", due_date=soon(1), assignee_id=bob.id)
    [note] = await wait_for(bob, "task_overdue")
    assert note["title"] == "Task Overdue"
    assert note["content"].startswith("'Taxes' is overdue: it was due ")
    assert note["related_entity_id"] == task["id"]
    await asyncio.sleep(1.2)
    assert len(await inbox(bob, "task_overdue")) == 1 and await inbox(alice, "task_overdue") == []
    # A due date set in the past is not announced; one moved ahead is, once more.
    await alice.patch(f"/tasks/{task['id']}", json={"due_date": soon(-60)})
    await alice.patch(f"/tasks/{task['id']}", json={"due_date": soon(1)})
    await wait_for(bob, "task_overdue", count=2)
    # Completed before its due date: never overdue.
    other = await alice.task(ws, title="Done early", due_date=soon(1), assignee_id=bob.id)
    await alice.post(f"/tasks/{other['id']}/complete")
    await asyncio.sleep(2)
    assert [n["related_entity_id"] for n in await inbox(bob, "task_overdue")] == [task["id"]] * 2


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "exactly one"),
        ({"at": "2030-01-01T00:00:00Z", "before_s": 60}, "exactly one"),
        ({"at": "2030-01-01T00:00:00"}, "time zone offset"),
        ({"at": "2001-01-01T00:00:00Z"}, "has passed"),
        ({"before_s": 60}, "due_date"),
        ({"before_s": -1}, "greater than or equal"),
        ({"at": "2030-01-01T00:00:00Z", "user_id": 0}, "greater than or equal"),
        ({"at": "2030-01-01T00:00:00Z", "extra": 1}, "Extra inputs"),
    ],
)
async def test_bad_reminders_are_422(api: Api, body: dict[str, Any], detail: str) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws)
    r = await alice.post(f"/tasks/{task['id']}/reminders", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert detail in r.text


async def test_who_may_be_reminded_and_who_may_delete(api: Api) -> None:
    alice, bob, carol, outsider = [await api.user() for _ in range(4)]
    ws = await alice.workspace("T", (bob, "member"), (carol, "member"))
    task = await alice.task(ws, assignee_id=bob.id)
    at = soon(3600)
    own = await remind(carol, task["id"], at=at, user_id=carol.id)  # a member's own
    r = await carol.post(f"/tasks/{task['id']}/reminders", json={"at": at, "user_id": alice.id})
    assert r.status_code == 201  # the owner
    r = await bob.post(f"/tasks/{task['id']}/reminders", json={"at": at, "user_id": carol.id})
    assert r.status_code == 422 and "yourself, the task's assignee or its owner" in r.text
    assert len(await reminders(bob, task["id"])) == 2
    r = await bob.delete(f"/tasks/{task['id']}/reminders/{own['id']}")
    assert r.status_code == 403
    # Another workspace's task and its reminders do not exist for an outsider.
    assert (await outsider.get(f"/tasks/{task['id']}/reminders")).status_code == 404
    r = await outsider.delete(f"/tasks/{task['id']}/reminders/{own['id']}")
    assert r.status_code == 404
    r = await carol.delete(f"/tasks/{task['id']}/reminders/{own['id']}")
    assert r.status_code == 204
    r = await carol.delete(f"/tasks/{task['id']}/reminders/{own['id']}")
    assert r.status_code == 404
    assert (await carol.delete(f"/tasks/{task['id']}/reminders/0")).status_code == 404
    await alice.delete(f"/tasks/{task['id']}")
    r = await alice.post(f"/tasks/{task['id']}/reminders", json={"at": at})
    assert r.status_code == 409
