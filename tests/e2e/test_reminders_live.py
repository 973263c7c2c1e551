"""Reminders and recurring tasks on real server processes: one process, and (with
ONETASK_TEST_DATABASE_URL and a redis:// ONETASK_TEST_BROKER_URL) two processes sharing
PostgreSQL and Redis, so exactly-once is shown across processes and across a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BROKER_URL, DATABASE_URL, User
from tests.e2e.servers import Server, Socket

SETTINGS = {"ONETASK_SCHEDULER_INTERVAL_S": "0.2"}
LAYOUTS = ["one_process"]
if BROKER_URL.startswith("redis") and DATABASE_URL:
    LAYOUTS.append("two_processes")


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


class Cluster:
    """One server, or two sharing the database and the broker."""

    def __init__(self, root: Path, layout: str) -> None:
        count = 2 if layout == "two_processes" else 1
        self.servers = [Server(root / f"p{i}", **SETTINGS) for i in range(count)]

    @property
    def a(self) -> Server:
        return self.servers[0]

    @property
    def b(self) -> Server:
        return self.servers[-1]

    def start(self) -> Cluster:
        for server in self.servers:
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(params=LAYOUTS)
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path, request.param).start()
    try:
        yield running
    finally:
        running.stop()


async def _inbox(user: User, kind: str) -> list[dict[str, Any]]:
    r = await user.get("/notifications", params={"limit": 200})
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["type"] == kind]


async def _notifications(server: Server, user: User) -> Socket:
    sock = await Socket.open(server.ws_url, "notifications", user.token)
    assert (await sock.recv())["type"] == "connected"
    return sock


async def test_a_reminder_fires_once_live_on_every_process(cluster: Cluster) -> None:
    async with cluster.a.api() as api:
        alice, bob = await api.user(), await api.user()
        ws = await alice.workspace("T", (bob, "member"))
        task = await alice.task(ws, title="Call the bank", assignee_id=bob.id)
        sockets = [await _notifications(server, bob) for server in cluster.servers]
        r = await alice.post(f"/tasks/{task['id']}/reminders", json={"at": soon(1.5)})
        assert r.status_code == 201, r.text
        for sock in sockets:
            message = await sock.recv_type("notification", timeout=20)
            assert message["data"]["type"] == "task_reminder"
            assert message["data"]["content"] == "Reminder: 'Call the bank'"
            assert message["data"]["related_entity_id"] == task["id"]
        for sock in sockets:
            await sock.nothing_for(1.5)  # not a second time, from any process
            await sock.close()
        assert len(await _inbox(bob, "task_reminder")) == 1


async def test_a_reminder_due_while_every_process_was_down_fires_after_the_restart_once(
    cluster: Cluster,
) -> None:
    async with cluster.a.api() as api:
        alice = await api.user()
        ws = await alice.workspace()
        task = await alice.task(ws, title="Water the plants")
        r = await alice.post(f"/tasks/{task['id']}/reminders", json={"at": soon(1.5)})
        assert r.status_code == 201, r.text
        overdue = await alice.task(ws, title="Pay rent", due_date=soon(1.5))
    cluster.stop()
    await asyncio.sleep(2.5)  # both are due now, and nobody is running
    cluster.start()
    async with cluster.a.api() as api:
        alice.client = api.client
        deadline = time.monotonic() + 20
        while len(await _inbox(alice, "task_reminder")) < 1:
            assert time.monotonic() < deadline, "the reminder did not fire after the restart"
            await asyncio.sleep(0.1)
        while len(await _inbox(alice, "task_overdue")) < 1:
            assert time.monotonic() < deadline, "the overdue notice did not come"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        [reminded] = await _inbox(alice, "task_reminder")
        [late] = await _inbox(alice, "task_overdue")
        assert (reminded["related_entity_id"], late["related_entity_id"]) == (
            task["id"],
            overdue["id"],
        )
        # A client that was offline finds it when it resumes on the socket.
        sock = await Socket.open(cluster.b.ws_url, "notifications", alice.token, since=0)
        replayed = [await sock.recv() for _ in range(3)]
        kinds = [m["data"].get("type") for m in replayed if m["type"] == "notification"]
        assert sorted(kinds) == ["task_overdue", "task_reminder"]
        await sock.close()


async def test_completing_a_recurring_task_on_two_processes_at_once_makes_one_next(
    cluster: Cluster,
) -> None:
    async with cluster.a.api() as api_a, cluster.b.api() as api_b:
        alice = await api_a.user()
        alice_b = User(api_b.client, alice.token, alice.refresh, alice.username, alice.id)
        ws = await alice.workspace()
        sock = await Socket.open(cluster.b.ws_url, f"workspaces/{ws}/tasks", alice.token)
        await sock.recv_type("connected")
        recurrence = {"rule": "FREQ=WEEKLY;BYDAY=FR", "tz": "Europe/Paris"}
        for round_ in range(3):
            task = await alice.task(
                ws, title=f"Review {round_}", due_date="2027-01-01T09:00:00Z", recurrence=recurrence
            )
            assert (await sock.recv_type("task_update"))["action"] == "created"
            path = f"/tasks/{task['id']}/complete"
            answers = await asyncio.gather(alice.post(path), alice_b.post(path), alice.post(path))
            assert {r.status_code for r in answers} == {200}
            completed = await sock.recv_type("task_update")
            created = await sock.recv_type("task_update")
            assert (completed["action"], created["action"]) == ("completed", "created")
            assert created["data"]["follows_id"] == task["id"]
            assert created["data"]["due_date"] == "2027-01-08T09:00:00Z"  # 10:00 in Paris
            assert created["data"]["recurrence"]["rule"] == "FREQ=WEEKLY;BYDAY=FR"
            await sock.nothing_for(0.5)  # no second occurrence, no second completion
        await sock.close()
