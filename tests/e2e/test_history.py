"""Retention, resync_required, and tokens kept out of the logs."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import Api
from tests.e2e.servers import Server, Socket, module_server

forgetful = module_server("forgetful", ONETASK_EVENT_RETENTION_S="1")


async def test_since_older_than_the_retention_gets_resync_required_then_live(
    forgetful: Server,
) -> None:
    async with forgetful.api() as api:
        alice = await api.user()
        ws = await alice.workspace()
        for i in range(3):
            await alice.task(ws, title=f"old {i}")
        deadline = time.monotonic() + 15
        while True:  # wait for the background pruning to drop the history
            sock = await Socket.open(
                forgetful.ws_url, f"workspaces/{ws}/tasks", alice.token, since=1
            )
            assert (await sock.recv())["data"]["seq"] == 3
            first = await sock.recv()
            if first["type"] == "resync_required":
                break
            assert first["seq"] == 2  # not pruned yet: a normal replay
            await sock.close()
            assert time.monotonic() < deadline, "history was never pruned"
            await asyncio.sleep(0.5)
        assert first["data"] == {"reason": "history_expired", "since": 1, "seq": 3}
        await alice.task(ws, title="new")
        assert (await sock.recv())["seq"] == 4  # then the live stream goes on
        await sock.close()


async def test_since_ahead_of_the_server_gets_resync_required(live: Api, server: Server) -> None:
    alice = await live.user()
    ws = await alice.workspace()
    await alice.task(ws)
    sock = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token, since=50)
    assert (await sock.recv())["type"] == "connected"
    resync = await sock.recv()
    assert resync == {
        "type": "resync_required",
        "data": {"reason": "ahead_of_server", "since": 50, "seq": 1},
    }
    await sock.close()


async def test_tokens_never_reach_the_logs(live: Api, server: Server) -> None:
    alice = await live.user()
    ws = await alice.workspace()
    sock = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token)
    await sock.recv_type("connected")
    await sock.close()
    refused = await Socket.open(server.ws_url, "workspaces/999999/tasks", alice.token)
    await refused.closed_with()
    # REST takes no token in the query: an unknown parameter (422), neither echoed nor logged
    r = await live.client.get(f"/api/v1/workspaces?token={alice.token}", headers=alice.headers)
    assert r.status_code == 422 and alice.token not in r.text
    await asyncio.sleep(0.2)  # let the server flush its log lines
    log = server.log.read_text()
    assert "/api/v1/ws/workspaces" in log and "token=[redacted]" in log
    assert alice.token not in log and alice.refresh not in log
    assert alice.token.split(".")[2] not in log  # not even the signature
