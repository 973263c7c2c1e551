"""Admission of a WebSocket racing the things that end it: removal, a new token, the
client leaving."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import Api, User, make_settings
from tests.e2e.servers import Server, Socket

ROUNDS = 40


async def end_of(sock: Socket, timeout: float = 5.0) -> tuple[int, list[dict[str, Any]]]:
    """The close code and what came before it; fails at once on any task_update, or if
    the socket stays open."""
    seen: list[dict[str, Any]] = []
    try:
        while True:
            message = await sock.recv(timeout)
            assert message["type"] != "task_update", f"a removed member got {message}"
            seen.append(message)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code, seen
    except TimeoutError:
        raise AssertionError(f"a removed member's socket stayed open: {seen}") from None


async def race_removal_against_admission(
    admin: User, member: User, workspace_id: int, socket_base: str, delay: float
) -> None:
    """One round: the member connects while an admin removes them, then a task is made.
    Whatever the interleaving, the socket ends in 4403 (or is refused with 4403/4404)
    and never sees the task."""
    added = await admin.post(
        f"/workspaces/{workspace_id}/members", json={"username": member.username, "role": "member"}
    )
    assert added.status_code == 201, added.text
    path = f"workspaces/{workspace_id}/tasks"
    opening = asyncio.create_task(Socket.open(socket_base, path, member.token))
    await asyncio.sleep(delay)
    removed = await admin.delete(f"/workspaces/{workspace_id}/members/{member.id}")
    assert removed.status_code == 204, removed.text
    await admin.task(workspace_id, title="made after the removal")
    code, _ = await end_of(await opening)
    assert code in (4403, 4404)


async def test_removal_racing_admission_always_ends_the_socket(live: Api, server: Server) -> None:
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace()
    for i in range(ROUNDS):
        await race_removal_against_admission(alice, bob, ws, server.ws_url, (i % 10) * 0.002)


async def test_auth_with_a_fresh_token_does_not_keep_a_removed_members_socket(
    live: Api, server: Server
) -> None:
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("Team", (bob, "member"))
    sock = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", bob.token)
    await sock.recv_type("connected")
    # Removed without the revocation reaching the socket (as when it raced the admission):
    # straight in the database.
    engine = create_async_engine(make_settings(server.data_dir).resolved_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM memberships WHERE workspace_id = :w AND user_id = :u"),
                {"w": ws, "u": bob.id},
            )
    finally:
        await engine.dispose()
    login = {"username": bob.username, "password": "password123"}
    fresh = (await live.client.post("/api/v1/auth/login", data=login)).json()["access_token"]
    await sock.send({"type": "auth", "token": fresh})
    await sock.send({"type": "ping"})
    seen: list[dict[str, Any]] = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            seen.append(await sock.recv(3.0))
            assert seen[-1]["type"] != "pong", "the socket lives on after auth"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert seen[-1]["data"]["code"] == "access_revoked"


def drop_during_handshake(port: int, path: str, *, wait_for_upgrade: bool) -> None:
    """A client that sends the upgrade request and leaves at once (with a reset)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.connect(("127.0.0.1", port))
    raw.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    if wait_for_upgrade:
        raw.recv(1024)
    raw.close()


async def test_a_client_leaving_during_admission_is_not_an_error(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        async with server.api() as api:
            alice = await api.user()
            ws = await alice.workspace()
            await alice.task(ws)  # something to replay
            paths = [
                f"/api/v1/ws/workspaces/{ws}/tasks?token={alice.token}&since=0",
                f"/api/v1/ws/notifications?token={alice.token}",
            ]
            for i in range(20):
                drop_during_handshake(server.port, paths[i % 2], wait_for_upgrade=i % 4 < 2)
            sock = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token)
            assert (await sock.recv())["type"] == "connected"  # still serving
            await sock.close()
    finally:
        server.stop()  # waits for the exit: every handler has finished, and logged
    log = server.log.read_text()
    assert "ERROR" not in log and "Traceback" not in log, log


async def test_a_members_replay_starts_at_their_membership(live: Api, server: Server) -> None:
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace()
    secret = await alice.task(ws, title="before bob", description="not for bob")
    r = await alice.patch(
        f"/tasks/{secret['id']}",
        json={"description": "still not for bob"},
        headers={"If-Match": f'"{secret["version"]}"'},
    )
    assert r.status_code == 200, r.text
    added = await alice.post(f"/workspaces/{ws}/members", json={"username": bob.username})
    assert added.status_code == 201, added.text  # seq 3: workspace_update member_added
    await alice.task(ws, title="after bob joined")  # seq 4
    path = f"workspaces/{ws}/tasks"

    sock = await Socket.open(server.ws_url, path, bob.token, since=0)
    assert (await sock.recv())["data"]["seq"] == 4
    resync = await sock.recv()
    assert resync["type"] == "resync_required"
    assert resync["data"] == {"reason": "before_membership", "since": 0, "seq": 4}
    await alice.task(ws, title="live")
    assert (await sock.recv())["data"]["title"] == "live"  # nothing from before bob
    await sock.close()

    sock = await Socket.open(server.ws_url, path, bob.token, since=2)  # bob's start
    assert (await sock.recv())["data"]["seq"] == 5
    replayed = [await sock.recv() for _ in range(3)]
    assert [m["seq"] for m in replayed] == [3, 4, 5]
    assert replayed[0]["type"] == "workspace_update" and replayed[0]["action"] == "member_added"
    assert replayed[0]["data"]["member"]["user_id"] == bob.id
    await sock.close()

    sock = await Socket.open(server.ws_url, path, alice.token, since=0)  # alice was there
    assert (await sock.recv())["data"]["seq"] == 5
    assert [(await sock.recv())["seq"] for _ in range(5)] == [1, 2, 3, 4, 5]
    await sock.close()
