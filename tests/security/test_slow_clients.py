"""Clients that never finish their request are cut off; slow but whole ones are not, and
neither are established WebSockets."""

from __future__ import annotations

import asyncio
import re
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import Server, Socket, module_server

TIMEOUT_S = 2.0
# Far longer than the bound: a connection still open then was never going to be closed.
PATIENCE_S = 15.0

server = module_server("slow", ONETASK_REQUEST_TIMEOUT_S=str(TIMEOUT_S))

UPGRADE = (
    b"GET /api/v1/ws/notifications?token=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)
INCOMPLETE = {
    "nothing at all": b"",
    "half a request line": b"GET /heal",
    "headers without their end": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
    "a body shorter than its Content-Length": (
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 200\r\n\r\n{"username": "'
    ),
    "a WebSocket upgrade never finished": UPGRADE,
}


async def answer_to(port: int, *pieces: bytes, pause_s: float = 0.0) -> bytes:
    """Send `pieces` with pauses between them, then read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(pause_s)
        return await asyncio.wait_for(reader.read(), PATIENCE_S)
    finally:
        writer.close()


async def test_requests_that_never_finish_are_answered_408_and_closed(server: Server) -> None:
    answers = await asyncio.gather(*(answer_to(server.port, data) for data in INCOMPLETE.values()))
    for what, answer in zip(INCOMPLETE, answers, strict=True):
        assert answer.startswith(b"HTTP/1.1 408 "), (what, answer[:300])
        assert b"application/problem+json" in answer and b"request-timeout" in answer, what
    async with server.api() as api:  # and the server serves on
        assert (await api.client.get("/healthz")).status_code == 200


async def test_blank_lines_after_a_request_do_not_hold_the_connection(server: Server) -> None:
    """They stop uvicorn's keep-alive timer without beginning a request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE_S)
        assert head.startswith(b"HTTP/1.1 200 ")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        assert length is not None
        await reader.readexactly(int(length[1]))
        writer.write(b"\r\n")  # after the response: the keep-alive timer is running
        rest = await asyncio.wait_for(reader.read(), PATIENCE_S)
    finally:
        writer.close()
    assert rest.startswith(b"HTTP/1.1 408 "), rest[:300]


async def test_a_slow_request_that_keeps_coming_is_answered(server: Server) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    pieces = [request[:10], request[10:25], request[25:]]
    answer = await answer_to(server.port, *pieces, pause_s=TIMEOUT_S / 5)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


async def test_established_websockets_outlive_the_request_timeout(server: Server) -> None:
    async with server.api() as api:
        alice = await api.user()
        workspace = await alice.workspace()
        sock = await Socket.open(server.ws_url, f"workspaces/{workspace}/tasks", alice.token)
        await sock.recv_type("connected")
        await sock.nothing_for(2 * TIMEOUT_S + 0.5)  # past the bound, the socket is quiet
        await alice.task(workspace, title="still listening")
        assert (await sock.recv_type("task_update"))["data"]["title"] == "still listening"
        await sock.close()


@pytest.fixture
def low_soft_fd_limit() -> Iterator[int]:
    """A soft limit of 256 for the processes started meanwhile; yields the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip("the hard limit leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_server_raises_its_open_files_limit_to_the_hard_limit(
    tmp_path: Path, low_soft_fd_limit: int
) -> None:
    started = Server(tmp_path)
    started.start()
    started.stop()
    assert f"open files limit {low_soft_fd_limit}" in started.log.read_text()
