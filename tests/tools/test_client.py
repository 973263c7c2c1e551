"""The reusable client (onetask.client) against real server processes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from onetask.client import (
    Backoff,
    Endpoint,
    LoginFailed,
    OneTaskClient,
    ServerClosed,
    Subscription,
    Unreachable,
)
from onetask.events.close_codes import describe
from tests.conftest import Api, unique
from tests.e2e.servers import Server, free_port


async def collect(sub: Subscription, into: list[dict[str, Any]]) -> None:
    async for message in sub:
        into.append(message)


async def test_subscription_resumes_across_a_server_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "restart").start()
    notes: list[str] = []
    try:
        async with OneTaskClient(server.url) as client:
            name = unique("ann")
            await client.http.post(
                "/api/v1/auth/register",
                json={"email": f"{name}@example.com", "username": name, "password": "password123"},
            )
            await client.login(name, "password123")
            workspace = (await client.create_workspace("Resume"))["id"]
            sub = Subscription(
                client,
                Endpoint("tasks", workspace_id=workspace),
                reconnect=True,
                backoff=Backoff(initial_s=1.0),
                notice=notes.append,
            )
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(60):
                async for message in sub:
                    seen.append(message)
                    if message["type"] == "connected" and sub.connections == 1:
                        await client.create_task(workspace, title="one")
                    elif message.get("seq") == 1:
                        server.stop()  # the socket is closed with 1001
                        server.start()
                        await client.create_task(workspace, title="two")
                        await client.create_task(workspace, title="three")
                    elif message.get("seq") == 3:
                        break
            await sub.close()

        updates = [(m["seq"], m["data"]["title"]) for m in seen if m["type"] == "task_update"]
        assert updates == [(1, "one"), (2, "two"), (3, "three")]
        assert sub.connections >= 2
        assert any("closed with 1001" in n for n in notes)
        assert any("since=1" in n for n in notes)
    finally:
        server.stop()


async def test_refusal_raises_with_the_close_code_meaning(live: Api, server: Server) -> None:
    alice, mallory = await live.user(), await live.user()
    workspace = await alice.workspace()
    async with OneTaskClient(server.url, mallory.token) as client:
        sub = Subscription(client, Endpoint("tasks", workspace_id=workspace), reconnect=True)
        seen: list[dict[str, Any]] = []
        with pytest.raises(ServerClosed) as refused:
            await collect(sub, seen)
    assert refused.value.close.code == 4404
    assert "not visible" in str(refused.value) and "stop" in str(refused.value)
    assert [m["type"] for m in seen] == ["error"]


async def test_expired_token_logs_in_again_when_it_can(live: Api, server: Server) -> None:
    alice = await live.user()
    async with OneTaskClient(server.url) as client:
        await client.login(alice.username, "password123")
        client.token = "expired"
        sub = Subscription(client, Endpoint("notifications"), reconnect=True)
        sub.backoff = Backoff(initial_s=0.05)
        async for message in sub:
            if message["type"] == "connected":
                break
        await sub.close()
    assert client.token != "expired"


async def test_login_and_unreachable_errors_are_typed(live: Api, server: Server) -> None:
    alice = await live.user()
    async with OneTaskClient(server.url) as client:
        with pytest.raises(LoginFailed):
            await client.login(alice.username, "nope-nope")
    async with OneTaskClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(Unreachable):
            await client.login(alice.username, "password123")


def test_replayed_duplicates_are_dropped_and_resync_moves_the_cursor() -> None:
    sub = Subscription(OneTaskClient(), Endpoint("notifications"), since=5)
    assert sub._accept({"type": "connected", "data": {"seq": 9}}) and sub.last_seq == 5
    assert not sub._accept({"type": "notification", "seq": 5, "data": {}})
    assert sub._accept({"type": "notification", "seq": 6, "data": {}}) and sub.last_seq == 6
    assert sub._accept({"type": "pong"}) and sub.last_seq == 6
    assert sub._accept({"type": "resync_required", "data": {"since": 6, "seq": 40}})
    assert sub.last_seq == 40
    assert "since=40" in sub.url()


def test_backoff_grows_is_capped_and_backs_off_longer_when_rate_limited() -> None:
    backoff = Backoff(initial_s=0.5, maximum_s=4.0)
    delays = [backoff.next_delay(describe(1001)) for _ in range(8)]
    assert all(0.25 <= d <= 4.0 for d in delays) and max(delays[-3:]) >= 2.0
    backoff.reset()
    assert backoff.next_delay(describe(4429)) >= 5.0
