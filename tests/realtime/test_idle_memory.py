"""What an idle subscriber costs the server in Python objects, counted by tracemalloc.

The issue's target is server memory per idle connection (at most 20 KiB of RSS, measured
by the bench). This counts what the Python heap holds for each socket on OneTask's own
WebSocket protocol, served by uvicorn in this process to raw sockets held by another, so
that no client object is counted. It was 18 KiB when each socket kept FastAPI's
middleware frames, its handshake request's headers and an `asyncio.Event` alive; a
regression of a couple of KiB fails it."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from onetask.realtime.hub import Hub
from onetask.realtime.transport import OneTaskWebSocketProtocol
from tests.conftest import Api

LIMIT_KIB = 15.0

# Holds sockets open (raw handshakes, one read each for the `connected` frame) until its
# stdin closes; prints how many it holds after each batch.
HOLDER = r"""
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
held = []
for line in sys.stdin:
    for _ in range(int(line)):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        data = b""
        while b'"connected"' not in data:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("closed: " + data[:300].decode("latin-1"))
            data += chunk
        held.append(s)
    print(len(held), flush=True)
"""


@pytest.fixture
async def port(app: FastAPI) -> AsyncIterator[int]:
    """The suite's app on a real socket, with the protocol `onetask serve` uses."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",  # the `app` fixture runs it
        ws=OneTaskWebSocketProtocol,
        ws_per_message_deflate=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    yield int(server.servers[0].sockets[0].getsockname()[1])
    server.should_exit = True
    await serving


async def test_an_idle_subscriber_holds_less_than_15_kib_of_python_objects(
    app: FastAPI, api: Api, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "ws_max_connections_per_user", 1000)
    owner = await api.user()
    workspace = await owner.workspace()
    path = f"/api/v1/ws/workspaces/{workspace}/tasks?token={owner.token}"
    hub: Hub = app.state.hub
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(port),
        path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None

    async def hold(n: int) -> None:
        assert holder.stdin is not None and holder.stdout is not None
        before = len(hub.connections)
        holder.stdin.write(f"{n}\n".encode())
        await holder.stdin.drain()
        assert (await asyncio.wait_for(holder.stdout.readline(), 60)).strip()
        while len(hub.connections) < before + n:  # noqa: ASYNC110  (admitted, subscribed)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # whatever else the handshake set off has run
        gc.collect()

    tracemalloc.start()
    try:
        await hold(20)  # warm: first-use caches, pools, the channel itself
        first = tracemalloc.take_snapshot()
        await hold(100)
        second = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        holder.stdin.close()
        await holder.wait()
    grown = sum(stat.size_diff for stat in second.compare_to(first, "filename"))
    per_socket_kib = grown / 100 / 1024
    assert per_socket_kib < LIMIT_KIB, f"{per_socket_kib:.1f} KiB per idle subscriber"
