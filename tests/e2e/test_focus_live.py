"""Focus sessions end to end: real server processes, real WebSocket clients.

Every test runs on one process; with ONETASK_TEST_BROKER_URL=redis://… and
ONETASK_TEST_DATABASE_URL set it also runs on two processes sharing the database and
Redis, with each user's sockets spread over both, so presence and the timer are shown to
be emitted once across processes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BROKER_URL, DATABASE_URL, Api, User
from tests.e2e.servers import Server, Socket

MINUTE_S = 0.2
GRACE_S = 0.6
SETTINGS = {
    "ONETASK_FOCUS_MINUTE_S": str(MINUTE_S),
    "ONETASK_PRESENCE_GRACE_S": str(GRACE_S),
    "ONETASK_SCHEDULER_INTERVAL_S": "0.05",
}
LAYOUTS = ["one_process"]
if BROKER_URL.startswith("redis") and DATABASE_URL:
    LAYOUTS.append("two_processes")
TIMER_FIELDS = {
    "phase",
    "cycle",
    "cycles",
    "status",
    "phase_started_at",
    "phase_ends_at",
    "remaining_s",
    "server_time",
}


@pytest.fixture(scope="module", params=LAYOUTS)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """(a, b): the same process, or two processes sharing PostgreSQL and Redis."""
    a = Server(tmp_path_factory.mktemp("focus-a"), **SETTINGS).start()
    b = a
    try:
        if request.param == "two_processes":
            b = Server(tmp_path_factory.mktemp("focus-b"), **SETTINGS).start()
        yield a, b
    finally:
        a.stop()
        if b is not a:
            b.stop()


@pytest.fixture
async def live(servers: tuple[Server, Server]) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as client:
        yield Api(client)


async def _session(host: User, workspace_id: int, **fields: Any) -> str:
    body = {"workspace_id": workspace_id, "title": "Deep work", **fields}
    r = await host.post("/focus-sessions", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _open(server: Server, user: User, session_id: str, **params: Any) -> Socket:
    sock = await Socket.open(server.ws_url, f"focus-sessions/{session_id}", user.token, **params)
    hello = await sock.recv()
    assert hello["type"] == "connected", hello
    return sock


async def _next(sock: Socket, action: str, timeout: float = 10.0) -> dict[str, Any]:
    message = await sock.recv_type("focus_update", timeout)
    assert message["action"] == action, message
    return message


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_guide_example_participant_joined_field_for_field(
    live: Api, servers: tuple[Server, Server]
) -> None:
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("T", (bob, "member"))
    task = await alice.task(ws, title="Project Proposal")
    session_id = await _session(alice, ws)
    watcher = await _open(servers[1], alice, session_id)  # the host: already a participant
    r = await bob.post(f"/focus-sessions/{session_id}/join", json={"current_task_id": task["id"]})
    assert r.status_code == 200
    message = await watcher.recv()
    assert {k: message[k] for k in ("type", "action", "seq")} == {
        "type": "focus_update",
        "action": "participant_joined",
        "seq": 1,
    }
    data = message["data"]
    assert set(data) == {"session_id", "user", "status", "current_task_id", "timer"}
    assert data["session_id"] == session_id
    assert data["user"] == {"id": bob.id, "username": bob.username}
    assert data["status"] == "active" and data["current_task_id"] == task["id"]
    assert set(data["timer"]) == TIMER_FIELDS
    assert data["timer"]["phase"] == "work" and data["timer"]["status"] == "scheduled"
    assert data["timer"]["server_time"].endswith("Z")
    await watcher.close()


async def test_presence_is_per_user_across_tabs_processes_and_quick_reconnects(
    live: Api, servers: tuple[Server, Server]
) -> None:
    a, b = servers
    alice, bob = await live.user(), await live.user()
    session_id = await _session(alice, await alice.workspace("T", (bob, "member")))
    watcher = await _open(a, alice, session_id)

    tab1 = await _open(a, bob, session_id)
    joined = await _next(watcher, "participant_joined")
    assert joined["seq"] == 1 and joined["data"]["user"]["id"] == bob.id
    tab2 = await _open(b, bob, session_id)  # a second tab, maybe on another process
    await tab1.close()
    await tab2.close()
    tab3 = await _open(a, bob, session_id)  # reconnects within the grace period
    await watcher.nothing_for(GRACE_S * 2)
    # Nothing happened in between: the next event is the marker, with the next seq.
    await tab3.send({"type": "status_change", "status": "away"})
    marker = await _next(watcher, "status_change")
    assert marker["seq"] == 2 and marker["data"]["status"] == "away"

    await tab3.close()
    left = await _next(watcher, "participant_left", timeout=GRACE_S + 10)
    assert left["seq"] == 3 and left["data"]["user"]["id"] == bob.id
    assert left["data"]["status"] == "left"
    participants = (await alice.get(f"/focus-sessions/{session_id}")).json()["participants"]
    assert {p["user_id"]: p["status"] for p in participants}[bob.id] == "left"
    await alice.post(f"/focus-sessions/{session_id}/start")
    assert (await _next(watcher, "timer_changed"))["seq"] == 4  # one leave, not two
    await watcher.close()


async def test_status_and_task_messages_are_validated_persisted_and_broadcast(
    live: Api, servers: tuple[Server, Server]
) -> None:
    a, b = servers
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("T", (bob, "member"))
    task = await alice.task(ws, title="Write")
    foreign = await bob.task(await bob.workspace("mine"), title="Elsewhere")
    session_id = await _session(alice, ws)
    watcher = await _open(a, alice, session_id)
    sock = await _open(b, bob, session_id)
    await _next(watcher, "participant_joined")

    await sock.send({"type": "status_change", "status": "on_break"})
    changed = await _next(watcher, "status_change")
    assert changed["data"]["user"]["id"] == bob.id and changed["data"]["status"] == "on_break"

    for bad, code in [
        ({"type": "status_change", "status": "sleeping"}, "invalid_field"),
        ({"type": "status_change"}, "invalid_field"),
        ({"type": "set_task", "task_id": "456"}, "invalid_field"),
        ({"type": "set_task", "task_id": foreign["id"]}, "invalid_input"),
        ({"type": "set_task", "task_id": 10**9}, "invalid_input"),
    ]:
        await sock.send(bad)
        error = await sock.recv_type("error")
        assert error["data"]["code"] == code, (bad, error)
    await sock.send({"type": "ping"})
    assert (await sock.recv_type("pong"))["type"] == "pong"  # still open

    await sock.send({"type": "set_task", "task_id": task["id"]})
    changed = await _next(watcher, "task_changed")
    assert changed["data"]["current_task_id"] == task["id"]
    assert changed["data"]["status"] == "on_break"
    await sock.send({"type": "set_task", "task_id": None})
    assert (await _next(watcher, "task_changed"))["data"]["current_task_id"] is None
    body = (await alice.get(f"/focus-sessions/{session_id}")).json()
    mine = next(p for p in body["participants"] if p["user_id"] == bob.id)
    assert mine["status"] == "on_break" and mine["current_task_id"] is None
    await watcher.close()
    await sock.close()


async def test_the_server_runs_every_phase_once_then_ends_the_session(
    live: Api, servers: tuple[Server, Server]
) -> None:
    a, b = servers
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("T", (bob, "member"))
    session_id = await _session(alice, ws, work_minutes=2, break_minutes=1, cycles=2)
    watchers = [await _open(a, alice, session_id), await _open(b, bob, session_id)]
    await _next(watchers[0], "participant_joined")
    await _next(watchers[1], "participant_joined")
    assert (await alice.post(f"/focus-sessions/{session_id}/start")).status_code == 200

    seen: list[list[dict[str, Any]]] = []
    for sock in watchers:
        code, messages = await sock.closed_with(timeout=10)
        assert code == 1000  # after session_ended, nothing more will come
        seen.append([m for m in messages if m["type"] == "focus_update"])
    assert seen[0] == seen[1]  # the same events, whichever process each socket is on
    events = seen[0]
    assert [m["action"] for m in events] == [
        "timer_changed",
        "phase_changed",
        "phase_changed",
        "session_ended",
    ]
    assert [m["seq"] for m in events] == [2, 3, 4, 5]
    timers = [m["data"]["timer"] for m in events]
    assert [(t["phase"], t["cycle"], t["status"]) for t in timers] == [
        ("work", 1, "running"),
        ("break", 1, "running"),
        ("work", 2, "running"),
        ("work", 2, "completed"),
    ]
    for timer, minutes in zip(timers[:3], (2, 1, 2), strict=True):
        length = _at(timer["phase_ends_at"]) - _at(timer["phase_started_at"])
        assert abs(length.total_seconds() - minutes * MINUTE_S) < 1e-3
    for before, after in itertools.pairwise(timers[:3]):
        assert after["phase_started_at"] == before["phase_ends_at"]  # no drift
    assert timers[3]["phase_ends_at"] is None and timers[3]["remaining_s"] is None
    body = (await alice.get(f"/focus-sessions/{session_id}")).json()
    assert body["status"] == "completed" and body["ended_at"] == timers[2]["phase_ends_at"]


async def test_pause_keeps_the_remaining_time_and_resume_recomputes_the_end(
    live: Api, servers: tuple[Server, Server]
) -> None:
    alice = await live.user()
    session_id = await _session(alice, await alice.workspace(), work_minutes=5, cycles=1)
    watcher = await _open(servers[1], alice, session_id)
    path = f"/focus-sessions/{session_id}"
    await alice.post(path + "/start")
    started = await _next(watcher, "timer_changed")
    assert started["data"]["change"] == "started"
    await alice.post(path + "/pause")
    paused = (await _next(watcher, "timer_changed"))["data"]
    assert paused["change"] == "paused" and paused["timer"]["status"] == "paused"
    remaining = paused["timer"]["remaining_s"]
    assert paused["timer"]["phase_ends_at"] is None and 0 < remaining <= 5 * MINUTE_S
    await watcher.nothing_for(5 * MINUTE_S + 0.3)  # the clock is stopped: no phase ends
    await alice.post(path + "/resume")
    resumed = (await _next(watcher, "timer_changed"))["data"]["timer"]
    assert resumed["status"] == "running"
    left = (_at(resumed["phase_ends_at"]) - _at(resumed["server_time"])).total_seconds()
    assert abs(left - remaining) < 0.05
    ended = await _next(watcher, "session_ended", timeout=10)
    assert ended["data"]["timer"]["status"] == "completed"


async def test_the_host_leaving_hands_over_to_the_earliest_participant(
    live: Api, servers: tuple[Server, Server]
) -> None:
    a, b = servers
    alice, bob, carol = await live.user(), await live.user(), await live.user()
    ws = await alice.workspace("T", (bob, "member"), (carol, "member"))
    session_id = await _session(alice, ws)
    host = await _open(a, alice, session_id)
    bob_sock = await _open(b, bob, session_id)
    await _next(bob_sock, "participant_joined")
    await carol.post(f"/focus-sessions/{session_id}/join")
    assert (await _next(bob_sock, "participant_joined"))["data"]["user"]["id"] == carol.id

    await host.close()
    left = await _next(bob_sock, "participant_left", timeout=GRACE_S + 10)
    assert left["data"]["user"]["id"] == alice.id
    handed = await _next(bob_sock, "host_changed")
    assert handed["data"]["user"] == {"id": bob.id, "username": bob.username}
    assert handed["data"]["host_id"] == bob.id and handed["seq"] == left["seq"] + 1
    assert (await alice.post(f"/focus-sessions/{session_id}/start")).status_code == 403
    assert (await bob.post(f"/focus-sessions/{session_id}/start")).status_code == 200
    await bob_sock.close()


async def test_a_host_removed_from_the_workspace_leaves_and_hands_over_live(
    live: Api, servers: tuple[Server, Server]
) -> None:
    _, b = servers
    alice, bob, carol = await live.user(), await live.user(), await live.user()
    ws = await alice.workspace("T", (bob, "member"), (carol, "member"))
    # The host takes part over REST only: no socket of theirs closes, so presence (which
    # leaves after the grace period) plays no part in what follows.
    session_id = await _session(bob, ws, work_minutes=240)
    carol_sock = await _open(b, carol, session_id)
    assert (await _next(carol_sock, "participant_joined"))["data"]["user"]["id"] == carol.id
    assert (await bob.post(f"/focus-sessions/{session_id}/start")).status_code == 200
    await _next(carol_sock, "timer_changed")

    assert (await alice.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    left = await _next(carol_sock, "participant_left")
    assert left["data"]["user"]["id"] == bob.id and left["data"]["status"] == "left"
    handed = await _next(carol_sock, "host_changed")
    assert handed["data"]["user"]["id"] == carol.id and handed["data"]["host_id"] == carol.id
    assert handed["seq"] == left["seq"] + 1
    assert (await carol.post(f"/focus-sessions/{session_id}/pause")).status_code == 200
    assert (await _next(carol_sock, "timer_changed"))["data"]["change"] == "paused"
    await carol_sock.close()


async def test_ending_sends_a_summary_per_participant_then_closes(
    live: Api, servers: tuple[Server, Server]
) -> None:
    a, b = servers
    alice, bob, carol = await live.user(), await live.user(), await live.user()
    ws = await alice.workspace("T", (bob, "member"), (carol, "member"))
    task = await alice.task(ws, title="Proposal", assignee_id=bob.id)
    await alice.task(ws, title="Not done", assignee_id=bob.id)
    session_id = await _session(alice, ws, work_minutes=60)
    path = f"/focus-sessions/{session_id}"
    await bob.post(path + "/join", json={"current_task_id": task["id"]})
    await carol.post(path + "/join", json={"status": "on_break"})
    watcher = await _open(b, bob, session_id)
    await alice.post(path + "/start")
    started = await _next(watcher, "timer_changed")
    assert (await bob.post(f"/tasks/{task['id']}/complete")).status_code == 200
    # Let at least one whole second of focus pass (a duration, not a wait for an event).
    await asyncio.sleep(1.2)
    assert (await alice.post(path + "/end")).json()["status"] == "completed"
    code, messages = await watcher.closed_with()
    assert code == 1000
    ended = messages[-1]
    assert ended["action"] == "session_ended" and ended["seq"] == started["seq"] + 1
    summary = {line["user"]["id"]: line for line in ended["data"]["summary"]}
    assert summary.keys() == {alice.id, bob.id, carol.id}
    assert summary[bob.id]["tasks_completed"] == 1
    assert summary[bob.id]["completed_task_ids"] == [task["id"]]
    assert summary[bob.id]["focused_seconds"] >= 1 and summary[alice.id]["focused_seconds"] >= 1
    assert summary[carol.id]["focused_seconds"] == 0 and summary[carol.id]["tasks_completed"] == 0
    after = await _open(a, bob, session_id)  # an ended session: connected, then closed
    code, _ = await after.closed_with()
    assert code == 1000


async def test_outsiders_and_unknown_sessions_are_refused_with_4404(
    live: Api, servers: tuple[Server, Server]
) -> None:
    alice, mallory = await live.user(), await live.user()
    session_id = await _session(alice, await alice.workspace())
    for who, target in [
        (mallory, session_id),
        (alice, "focus-999999999"),
        (alice, "focus-abc"),
        (alice, "123"),
    ]:
        sock = await Socket.open(servers[1].ws_url, f"focus-sessions/{target}", who.token)
        code, seen = await sock.closed_with()
        assert code == 4404, target
        assert seen[-1]["type"] == "error" and seen[-1]["data"]["code"] == "not_found"
    body = (await alice.get(f"/focus-sessions/{session_id}")).json()
    assert [p["user_id"] for p in body["participants"]] == [alice.id]


async def test_the_clock_keeps_running_across_a_restart(tmp_path: Path) -> None:
    server = Server(tmp_path, **SETTINGS).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            alice = await Api(client).user()
            session_id = await _session(alice, await alice.workspace(), work_minutes=5, cycles=1)
            started = (await alice.post(f"/focus-sessions/{session_id}/start")).json()
        server.stop()
        # Down until after the phase's end: nobody is there to see the boundary pass.
        wait = (
            _at(started["phase_ends_at"]) - _at(started["timer"]["server_time"])
        ).total_seconds()
        await asyncio.sleep(max(0.0, wait) + 0.2)
        server.start()
        sock = await Socket.open(
            server.ws_url, f"focus-sessions/{session_id}", alice.token, since=1
        )
        code, seen = await sock.closed_with()
        assert code == 1000
        assert [m.get("action") for m in seen if m["type"] == "focus_update"] == ["session_ended"]
        assert seen[-1]["data"]["timer"]["status"] == "completed"
    finally:
        server.stop()
