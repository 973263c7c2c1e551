"""Faults injected into real processes: a server killed, the broker and the database
restarted, a graceful shutdown under load. PostgreSQL and Redis are private to these
tests (see services.py), so restarting them disturbs nobody else.

What every test asserts is what a frontend would notice: each subscriber ends with every
event exactly once and in order, REST answers 503 problem+json (never a 500 or a hang)
while a dependency is down, and everything comes back without restarting OneTask.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import Api
from tests.e2e.servers import Server, Socket
from tests.reliability.clients import Follower, Writers, channel_head
from tests.reliability.services import PrivatePostgres, PrivateRedis

SUBSCRIBERS_PER_SERVER = 4


def scaled_env(database_url: str, redis: PrivateRedis) -> dict[str, str]:
    return {
        "ONETASK_DATABASE_URL": database_url,
        "ONETASK_BROKER_URL": redis.url,
        "ONETASK_BROKER_NAMESPACE": f"fault-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def pair(
    tmp_path_factory: pytest.TempPathFactory, private_database: str, private_redis: PrivateRedis
) -> Iterator[tuple[Server, Server]]:
    env = scaled_env(private_database, private_redis)
    a = Server(tmp_path_factory.mktemp("a"), **env).start()
    b = Server(tmp_path_factory.mktemp("b"), **env).start()
    yield a, b
    a.kill()
    b.stop()


async def wait_until(condition: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (callable(condition) and condition()):
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        await asyncio.sleep(0.05)


async def settle(followers: list[Follower], target: int, timeout: float = 30) -> None:
    for follower in followers:
        follower.target = target
    runs = [asyncio.create_task(f.run()) for f in followers]
    await asyncio.wait_for(asyncio.gather(*runs), timeout)


def assert_exactly_once_in_order(followers: list[Follower], writers: Writers, head: int) -> None:
    assert head >= writers.total
    for follower in followers:
        assert follower.seqs == list(range(1, head + 1)), (follower.drops, follower.seqs)
        assert set(writers.acknowledged) <= follower.titles
        assert not follower.unexpected, follower.unexpected


async def test_kill_9_of_one_process_mid_burst_every_subscriber_resumes_on_the_survivor(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=b.url, timeout=30) as client:
        alice = await Api(client).user()
        ws = await alice.workspace()
    path = f"workspaces/{ws}/tasks"
    followers = [Follower([a.ws_url, b.ws_url], path, alice.token) for _ in range(4)]
    followers += [Follower([b.ws_url, a.ws_url], path, alice.token) for _ in range(4)]
    running = [asyncio.create_task(f.run()) for f in followers]
    for follower in followers:
        await asyncio.wait_for(follower.connected.wait(), 10)
    writers = Writers([a.url, b.url], alice.token, ws, count=4, changes=40)
    writing = asyncio.create_task(writers.run())

    await wait_until(lambda: len(writers.acknowledged) >= writers.total // 3, "a third", 60)
    await asyncio.to_thread(a.kill)  # SIGKILL, mid-burst: no goodbye, nothing flushed
    await asyncio.wait_for(writing, 120)

    head = await channel_head(b.ws_url, path, alice.token, at_least=writers.total)
    for follower in followers:
        follower.target = head
    await asyncio.wait_for(asyncio.gather(*running), 60)
    assert_exactly_once_in_order(followers, writers, head)
    assert writers.server_errors == []
    for follower in followers[:4]:
        assert follower.drops and follower.drops[0] is None  # really cut, no close frame


async def test_redis_restart_mid_burst_loses_nothing_and_delivery_resumes_by_itself(
    pair: tuple[Server, Server], private_redis: PrivateRedis
) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as client:
        alice = await Api(client).user()
        ws = await alice.workspace()
    path = f"workspaces/{ws}/tasks"
    # Subscribers on both processes; writes through both, so events must cross Redis.
    followers = [Follower([s.ws_url], path, alice.token) for s in (a, b, a, b, a, b)]
    running = [asyncio.create_task(f.run()) for f in followers]
    for follower in followers:
        await asyncio.wait_for(follower.connected.wait(), 10)
    writers = Writers([a.url, b.url], alice.token, ws, count=4, changes=40)
    writing = asyncio.create_task(writers.run())

    await wait_until(lambda: len(writers.acknowledged) >= writers.total // 4, "a quarter", 60)
    await asyncio.to_thread(private_redis.kill)
    outage_began = len(writers.acknowledged)
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and "broker" in ready.json()["detail"]
        # Logins count failures in Redis: refused as 503 problem+json, not a crash.
        login = await client.post(
            "/api/v1/auth/login", data={"username": alice.username, "password": "password123"}
        )
        assert login.status_code == 503, login.text
        assert login.headers["content-type"] == "application/problem+json"
    await wait_until(lambda: len(writers.acknowledged) >= outage_began + 20, "writes", 60)
    await asyncio.to_thread(private_redis.start)  # same port, empty: every message lost
    await asyncio.wait_for(writing, 120)

    head = await channel_head(b.ws_url, path, alice.token, at_least=writers.total)
    for follower in followers:
        follower.target = head
    await asyncio.wait_for(asyncio.gather(*running), 30)  # no reconnect needed
    assert_exactly_once_in_order(followers, writers, head)
    assert all(f.drops == [] for f in followers), [f.drops for f in followers]
    assert writers.server_errors == [] and writers.failures == []


@pytest.fixture
def lone(
    tmp_path: Path, private_postgres: PrivatePostgres, private_database: str
) -> Iterator[Server]:
    server = Server(tmp_path, ONETASK_DATABASE_URL=private_database, ONETASK_BROKER_URL="memory://")
    yield server.start()
    server.stop()
    if not (private_postgres.data / "postmaster.pid").exists():
        private_postgres.start()  # leave the cluster up for the next test


async def test_postgres_restart_gives_bounded_503s_then_recovers_without_restarting_onetask(
    lone: Server, private_postgres: PrivatePostgres
) -> None:
    async with httpx.AsyncClient(base_url=lone.url, timeout=30) as client:
        alice = await Api(client).user()
        ws = await alice.workspace()
        task = await alice.task(ws, title="before")
        sock = await Socket.open(lone.ws_url, f"workspaces/{ws}/tasks", alice.token, since=1)
        await sock.recv_type("connected")

        # Someone keeps reading and writing through the whole stop and restart.
        statuses: list[int] = []
        stop_hammering = asyncio.Event()

        async def hammer() -> None:
            while not stop_hammering.is_set():
                for method, url, body in (
                    ("GET", f"/api/v1/tasks/{task['id']}", None),
                    ("PATCH", f"/api/v1/tasks/{task['id']}", {"description": "x"}),
                ):
                    r = await client.request(method, url, json=body, headers=alice.headers)
                    statuses.append(r.status_code)
                await asyncio.sleep(0.02)

        hammering = asyncio.create_task(hammer())
        await wait_until(lambda: len(statuses) >= 4, "the hammer to start", 10)
        await asyncio.to_thread(private_postgres.stop, "fast")
        calls = [
            ("GET", "/api/v1/users/me", None),
            ("GET", f"/api/v1/workspaces/{ws}/tasks", None),
            ("POST", f"/api/v1/workspaces/{ws}/tasks", {"title": "during"}),
            ("PATCH", f"/api/v1/tasks/{task['id']}", {"title": "during"}),
            ("GET", "/api/v1/notifications", None),
        ]
        for method, url, body in calls:
            started = time.monotonic()
            r = await client.request(method, url, json=body, headers=alice.headers)
            assert time.monotonic() - started < 10, f"{method} {url} hung"
            assert r.status_code == 503, (method, url, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == 503 and "retry-after" in r.headers
        login = await client.post(
            "/api/v1/auth/login", data={"username": alice.username, "password": "password123"}
        )
        assert login.status_code == 503, login.text
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200
        refused = await Socket.open(lone.ws_url, f"workspaces/{ws}/tasks", alice.token)
        code, seen = await refused.closed_with()
        assert code == 1011 and seen[-1]["data"]["code"] == "unavailable", (code, seen)

        await asyncio.to_thread(private_postgres.start)
        deadline = time.monotonic() + 30
        while (r := await client.get("/api/v1/users/me", headers=alice.headers)).status_code != 200:
            assert r.status_code == 503, r.text
            assert time.monotonic() < deadline, "never recovered"
            await asyncio.sleep(0.2)
        assert (await client.get("/readyz")).status_code == 200
        stop_hammering.set()
        await asyncio.wait_for(hammering, 30)
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert 503 in statuses and statuses[-1] == 200
        await alice.task(ws, title="after")
        head = await channel_head(lone.ws_url, f"workspaces/{ws}/tasks", alice.token)
        # The socket opened before the outage is still served, in order, with every
        # change that committed before the outage (the hammer's) and after it.
        seqs: list[int] = []
        while not seqs or seqs[-1] < head:
            message = await sock.recv_type("task_update", timeout=15)
            seqs.append(message["seq"])
        assert seqs == list(range(2, head + 1)) and message["data"]["title"] == "after"
        await sock.close()
    log = lone.log.read_text()
    assert "Exception in ASGI application" not in log, log[-3000:]


async def test_sigterm_finishes_in_flight_requests_closes_sockets_1001_and_loses_nothing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "onetask.db"
    env = {
        "ONETASK_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "ONETASK_BROKER_URL": "memory://",
    }
    server = Server(tmp_path, **env).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            alice = await Api(client).user()
            ws = await alice.workspace()
            for i in range(3):
                await alice.task(ws, title=f"before {i}")
        path = f"workspaces/{ws}/tasks"
        socks = [await Socket.open(server.ws_url, path, alice.token, since=0) for _ in range(3)]
        for sock in socks:
            await sock.recv_type("connected")

        # Hold SQLite's write lock so that the next writes are surely in flight (waiting
        # on the lock inside the server) when SIGTERM arrives.
        blocker = sqlite3.connect(database, isolation_level=None, timeout=10)
        blocker.execute("BEGIN IMMEDIATE")
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=server.url, timeout=30, limits=limits, headers=alice.headers
        ) as client:
            in_flight = [
                asyncio.create_task(
                    client.post(f"/api/v1/workspaces/{ws}/tasks", json={"title": f"late {i}"})
                )
                for i in range(5)
            ]
            await asyncio.sleep(0.5)  # let them reach the server and block on the lock
            assert not any(t.done() for t in in_flight)
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            closes = [await sock.closed_with(timeout=15) for sock in socks]
            blocker.execute("COMMIT")
            blocker.close()
            answers = await asyncio.wait_for(asyncio.gather(*in_flight), 30)
        assert [r.status_code for r in answers] == [201] * 5
        for code, seen in closes:
            assert code == 1001 and seen[-1]["data"]["code"] == "server_shutdown"
            assert [m["seq"] for m in seen if m["type"] == "task_update"] == [1, 2, 3]
        # uvicorn re-raises the signal once it has shut down gracefully.
        assert server.process.wait(30) in (0, -signal.SIGTERM)
    finally:
        server.kill()

    restarted = Server(tmp_path, port=server.port, **env).start()
    try:
        back = await Socket.open(restarted.ws_url, path, alice.token, since=3)
        assert (await back.recv_type("connected"))["data"]["seq"] == 8
        late = [await back.recv_type("task_update") for _ in range(5)]
        assert [m["seq"] for m in late] == [4, 5, 6, 7, 8]
        assert sorted(m["data"]["title"] for m in late) == [f"late {i}" for i in range(5)]
        await back.close()
    finally:
        restarted.stop()


@pytest.fixture
def on_private_redis(
    tmp_path: Path, private_database: str, private_redis: PrivateRedis
) -> Iterator[Server]:
    server = Server(tmp_path, **scaled_env(private_database, private_redis))
    yield server.start()
    server.stop()
    if not private_redis.ping():
        private_redis.start()  # leave it up for the next test


async def test_a_focus_socket_opened_while_redis_is_down_gets_unavailable_then_1011(
    on_private_redis: Server, private_redis: PrivateRedis
) -> None:
    server = on_private_redis
    async with server.api() as api:
        alice = await api.user()
        ws = await alice.workspace()
        r = await alice.post("/focus-sessions", json={"workspace_id": ws, "title": "F"})
        assert r.status_code == 201, r.text
    path = f"focus-sessions/{r.json()['id']}"
    await asyncio.to_thread(private_redis.kill)
    refused = await Socket.open(server.ws_url, path, alice.token)
    code, seen = await refused.closed_with()  # a close frame, not a dropped connection
    assert code == 1011 and seen[-1]["data"]["code"] == "unavailable", (code, seen)
    assert refused.close_reason

    await asyncio.to_thread(private_redis.start)
    deadline = time.monotonic() + 20
    while True:  # the broker reconnects by itself; then the same socket is served
        sock = await Socket.open(server.ws_url, path, alice.token)
        await sock.recv_type("connected")
        await sock.send({"type": "status_change", "status": "away"})
        try:
            update = await sock.recv_type("focus_update", timeout=5)
            break
        except websockets.ConnectionClosed:
            assert time.monotonic() < deadline, "the focus socket never recovered"
            await asyncio.sleep(0.2)
    assert update["action"] == "status_change"
    await sock.close()
    log = server.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
