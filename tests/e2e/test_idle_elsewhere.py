"""Idle closing when OneTask is served by another ASGI server (the fallback path).

Without OneTask's own WebSocket protocol (`realtime/transport.py`), pongs never reach the
application: the server holding the socket pings, and drops a peer that stops answering
itself. OneTask then closes no connection for silence, so a client that only listens is
kept here too, and a vanished one is still dropped (by that server: stock uvicorn closes
it with 1011 "keepalive ping timeout"). On `onetask serve` the same two peers are kept
and closed by OneTask itself, with 4408 (the 4408 test of `test_close_codes.py`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
import websockets

from tests.e2e.servers import RawPeer, Server, Socket

IDLE_S = 1.5


class StockUvicorn(Server):
    """The app under plain `uvicorn` (its default WebSocket protocol), pinging every 0.5 s."""

    def argv(self, workers: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "onetask.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ws-ping-interval",
            "0.5",
            "--ws-ping-timeout",
            "0.5",
        ]


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = StockUvicorn(
        tmp_path_factory.mktemp("elsewhere"),
        ONETASK_WS_HEARTBEAT_S="0.5",
        ONETASK_WS_IDLE_TIMEOUT_S=str(IDLE_S),
    ).start()
    yield server
    server.stop()


async def test_served_elsewhere_a_listener_stays_and_a_vanished_peer_is_dropped(
    elsewhere: Server,
) -> None:
    async with elsewhere.api() as api:
        alice = await api.user()
        ws = await alice.workspace()
        path = f"/api/v1/ws/workspaces/{ws}/tasks?token={alice.token}"
        silent = await RawPeer.open(elsewhere.port, path)
        listener = Socket(await websockets.connect(f"{elsewhere.ws_url}{path}", ping_interval=None))
        try:
            assert (await listener.recv())["data"]["idle_timeout_s"] == IDLE_S
            await silent.read_for(15)
            assert silent.eof, "a peer that answers no ping must still be dropped"
            assert b'"code":"idle_timeout"' not in silent.received  # the host dropped it
            assert silent.received.endswith(RawPeer.close_frame(1011, "keepalive ping timeout"))

            await asyncio.sleep(IDLE_S * 5)  # five idle periods without a word
            task = await alice.task(ws, title="heard elsewhere")
            update = await listener.recv_type("task_update")
            assert update["data"]["id"] == task["id"]
        finally:
            silent.close()
            await listener.close()
