"""Every close code of PRODUCT.md §4, produced by a real server and asserted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import jwt
import pytest
import websockets

from onetask.events.close_codes import describe
from onetask.realtime.asyncapi import document
from tests.conftest import SECRET, Api
from tests.e2e.servers import RawPeer, Server, Socket, module_server, silent_socket


def token_for(user_id: int, ttl_s: float) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + ttl_s, "typ": "access"}
    return jwt.encode(claims, SECRET, algorithm="HS256")


# Small queues and an Origin allow-list.
strict = module_server(
    "strict",
    ONETASK_WS_QUEUE_SIZE="16",
    ONETASK_ALLOWED_ORIGINS="https://app.example",
    ONETASK_WS_MAX_MESSAGE_BYTES="4096",
)


@pytest.fixture
async def strict_api(strict: Server) -> AsyncIterator[Api]:
    async with strict.api() as api:
        yield api


async def refused(server: Server, path: str, token: str, **params: str) -> tuple[int, str]:
    sock = await Socket.open(server.ws_url, path, token, **params)
    code, seen = await sock.closed_with()
    assert len(seen) == 1 and seen[0]["type"] == "error", seen
    return code, seen[0]["data"]["code"]


async def test_4401_for_missing_invalid_and_expired_tokens(strict_api: Api, strict: Server) -> None:
    alice = await strict_api.user()
    assert (await refused(strict, "notifications", ""))[0] == 4401
    assert (await refused(strict, "notifications", "not-a-jwt"))[0] == 4401
    assert (await refused(strict, "notifications", token_for(alice.id, -5)))[0] == 4401
    forged = jwt.encode(
        {"sub": str(alice.id), "iat": 0, "exp": 2**31, "typ": "access"},
        "another-secret-" * 4,
        algorithm="HS256",
    )
    assert (await refused(strict, "notifications", forged))[0] == 4401


async def test_4401_when_the_token_expires_unless_replaced_with_auth(
    strict_api: Api, strict: Server
) -> None:
    alice = await strict_api.user()
    expiring = await Socket.open(strict.ws_url, "notifications", token_for(alice.id, 2))
    renewed = await Socket.open(strict.ws_url, "notifications", token_for(alice.id, 2))
    await expiring.recv_type("connected")
    await renewed.recv_type("connected")
    await renewed.send({"type": "auth", "token": token_for(alice.id, 600)})
    assert (await renewed.recv_type("auth_ok"))["data"]["expires_at"].endswith("Z")
    code, seen = await expiring.closed_with(timeout=10)
    assert code == 4401 and seen[-1]["data"]["code"] == "token_expired"
    await renewed.send({"type": "ping"})
    assert (await renewed.recv())["type"] == "pong"  # still open after the old expiry
    await renewed.close()


async def test_auth_is_acknowledged_on_every_socket_kind(strict_api: Api, strict: Server) -> None:
    """A valid `auth` gets `auth_ok` with the new expiry (the format of
    `connected.server_time`); an invalid one an error, and the old expiry stands."""
    alice, bob = await strict_api.user(), await strict_api.user()
    ws = await alice.workspace()
    r = await alice.post("/focus-sessions", json={"workspace_id": ws, "title": "F"})
    assert r.status_code == 201, r.text
    for path in ("notifications", f"workspaces/{ws}/tasks", f"focus-sessions/{r.json()['id']}"):
        sock = await Socket.open(strict.ws_url, path, token_for(alice.id, 3))
        connected = await sock.recv_type("connected")
        await sock.send({"type": "auth", "token": token_for(bob.id, 600)})
        refused = await sock.recv_type("error")
        assert refused["data"]["code"] == "invalid_token", path
        renewed = token_for(alice.id, 600)
        await sock.send({"type": "auth", "token": renewed})
        ok = await sock.recv_type("auth_ok")
        exp = jwt.decode(renewed, SECRET, algorithms=["HS256"])["exp"]
        assert ok == {
            "type": "auth_ok",
            "data": {"expires_at": datetime.fromtimestamp(exp, UTC).isoformat()[:-6] + "Z"},
        }, path
        assert ok["data"]["expires_at"].endswith("Z")
        assert connected["data"]["server_time"].endswith("Z")
        await sock.nothing_for(4)  # past the first token's expiry: still open
        await sock.close()


async def test_4400_for_a_malformed_since(strict_api: Api, strict: Server) -> None:
    alice = await strict_api.user()
    for bad in ("abc", "-1", "1.5"):
        assert await refused(strict, "notifications", alice.token, since=bad) == (
            4400,
            "bad_request",
        )


# Characters `str.isdigit()` accepts that are not ASCII digits: superscript two, circled
# one, Arabic-Indic one, fullwidth one.
LOOKALIKE_DIGITS = ("\u00b2", "\u2460", "\u0661", "\uff11")


def arabic_indic(number: int) -> str:
    return "".join(chr(0x660 + int(d)) for d in str(number))


async def test_only_ascii_digits_are_numbers_in_socket_paths_and_since(
    strict_api: Api, strict: Server
) -> None:
    alice = await strict_api.user()
    ws = await alice.workspace()
    r = await alice.post("/focus-sessions", json={"workspace_id": ws, "title": "F"})
    assert r.status_code == 201, r.text
    focus_id = r.json()["id"]
    paths = ("notifications", f"workspaces/{ws}/tasks", f"focus-sessions/{focus_id}")
    for path in paths:
        for bad in (*LOOKALIKE_DIGITS, arabic_indic(1)):
            refusal = await refused(strict, path, alice.token, since=quote(bad))
            assert refusal == (4400, "bad_request"), (path, bad)
    # Alice's own workspace and session, written in other digits, name nothing.
    bad_ids = (*LOOKALIKE_DIGITS, arabic_indic(ws))
    for bad in bad_ids:
        refusal = await refused(strict, f"workspaces/{quote(bad)}/tasks", alice.token)
        assert refusal == (4404, "not_found"), bad
    number = focus_id.removeprefix("focus-")
    for bad in (*bad_ids, arabic_indic(int(number)), f"{number}\n"):
        refusal = await refused(strict, f"focus-sessions/focus-{quote(bad)}", alice.token)
        assert refusal == (4404, "not_found"), bad


async def test_4404_for_unknown_invisible_and_malformed_workspaces(
    strict_api: Api, strict: Server
) -> None:
    alice, mallory = await strict_api.user(), await strict_api.user()
    ws = await alice.workspace()
    for path in (f"workspaces/{ws}/tasks", "workspaces/999999/tasks", "workspaces/x/tasks"):
        assert (await refused(strict, path, mallory.token))[0] == 4404


@pytest.mark.parametrize("bad", ["2147483648", "9223372036854775808", "0", "-1"])
async def test_4404_for_ids_no_row_can_have(strict_api: Api, strict: Server, bad: str) -> None:
    alice = await strict_api.user()
    for path in (f"workspaces/{bad}/tasks", f"focus-sessions/focus-{bad}"):
        assert await refused(strict, path, alice.token) == (4404, "not_found"), path


async def test_4403_closes_a_removed_member_and_4404_a_deleted_workspace(
    strict_api: Api, strict: Server
) -> None:
    alice, bob = await strict_api.user(), await strict_api.user()
    ws = await alice.workspace("Team", (bob, "member"))
    bobs = await Socket.open(strict.ws_url, f"workspaces/{ws}/tasks", bob.token)
    alices = await Socket.open(strict.ws_url, f"workspaces/{ws}/tasks", alice.token)
    await bobs.recv_type("connected")
    await alices.recv_type("connected")
    assert (await alice.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    code, seen = await bobs.closed_with()
    assert code == 4403 and seen[-1]["data"]["code"] == "access_revoked"
    await alice.task(ws, title="still here")
    assert (await alices.recv_type("task_update"))["data"]["title"] == "still here"
    assert (await alice.delete(f"/workspaces/{ws}")).status_code == 204
    code, _ = await alices.closed_with()
    assert code == 4404


async def test_a_wrong_socket_path_is_4404_naming_the_valid_paths(
    strict_api: Api, strict: Server
) -> None:
    alice = await strict_api.user()
    wrong_paths = ("tasks", "", "workspaces/1/tasks/x", "focus-sessions", "notifications%0A")
    for wrong in wrong_paths:
        sock = await Socket.open(strict.ws_url, wrong, alice.token)
        code, seen = await sock.closed_with()
        assert code == 4404, wrong
        assert [m["data"]["code"] for m in seen] == ["not_found"], wrong
        detail = seen[0]["data"]["detail"]
        for valid in (
            "/api/v1/ws/notifications",
            "/api/v1/ws/workspaces/{workspace_id}/tasks",
            "/api/v1/ws/focus-sessions/{session_id}",
        ):
            assert valid in detail, detail


async def test_every_close_carries_its_reason(strict_api: Api, strict: Server) -> None:
    """Browsers show a close frame's reason as `CloseEvent.reason`."""
    alice, bob = await strict_api.user(), await strict_api.user()
    ws = await alice.workspace("Team", (bob, "member"))
    reasons: dict[int, str] = {}

    async def close_of(sock: Socket) -> None:
        code, _ = await sock.closed_with()
        reasons[code] = sock.close_reason

    await close_of(await Socket.open(strict.ws_url, "notifications", "nope"))  # 4401
    await close_of(await Socket.open(strict.ws_url, "notifications", alice.token, since="x"))
    await close_of(await Socket.open(strict.ws_url, "workspaces/999999/tasks", alice.token))
    bobs = await Socket.open(strict.ws_url, f"workspaces/{ws}/tasks", bob.token)
    await bobs.recv_type("connected")
    assert (await alice.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    await close_of(bobs)  # 4403
    r = await alice.post("/focus-sessions", json={"workspace_id": ws, "title": "F"})
    focus = await Socket.open(strict.ws_url, f"focus-sessions/{r.json()['id']}", alice.token)
    await focus.recv_type("connected")
    assert (await alice.post(f"/focus-sessions/{r.json()['id']}/end")).status_code == 200
    await close_of(focus)  # 1000
    assert set(reasons) == {4401, 4400, 4404, 4403, 1000}
    for code, reason in reasons.items():
        assert reason == describe(code).meaning, code
        assert 0 < len(reason.encode()) <= 123


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455 §5.2): FIN, `opcode`, masked, short payload."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


def close_code_after(raw: socket.socket, frame: bytes) -> int:
    """Send `frame` on a raw socket past its `connected` message; the server's close code."""
    raw.settimeout(10)
    raw.sendall(frame)
    data = b""
    while chunk := raw.recv(1 << 16):
        data += chunk
    raw.close()
    while data:  # server frames: unmasked, short
        opcode, size = data[0] & 0x0F, data[1]
        offset = 2 if size < 126 else 4
        size = size if size < 126 else struct.unpack("!H", data[2:4])[0]
        if opcode == 0x8:
            return int(struct.unpack("!H", data[offset : offset + 2])[0])
        data = data[offset + size :]
    raise AssertionError("no close frame")


async def test_protocol_violations_close_with_documented_codes(
    strict_api: Api, strict: Server
) -> None:
    alice = await strict_api.user()
    documented = {c["code"] for c in document()["x-close-codes"]}
    path = f"/api/v1/ws/notifications?token={alice.token}"
    for frame, expected in (
        (masked_frame(0x1, b"\xff\xfe"), 1007),  # a text frame that is not UTF-8
        (masked_frame(0x3, b"x"), 1002),  # a reserved opcode
    ):
        raw = silent_socket(strict.port, path)
        code = await asyncio.to_thread(close_code_after, raw, frame)
        assert code == expected
        assert code in documented


async def test_1008_for_an_origin_outside_the_allow_list(strict_api: Api, strict: Server) -> None:
    alice = await strict_api.user()
    url = f"{strict.ws_url}/api/v1/ws/notifications?token={alice.token}"
    async with websockets.connect(url, origin="https://evil.example") as ws:  # type: ignore[arg-type]
        error = await ws.recv()
        assert "origin_not_allowed" in str(error)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with websockets.connect(url, origin="https://app.example") as ws:  # type: ignore[arg-type]
        assert "connected" in str(await ws.recv())


async def test_1009_for_an_oversized_client_message(strict_api: Api, strict: Server) -> None:
    alice = await strict_api.user()
    sock = await Socket.open(strict.ws_url, "notifications", alice.token)
    await sock.recv_type("connected")
    await sock.send({"type": "ping", "padding": "x" * 10_000})
    code, _ = await sock.closed_with()
    assert code == 1009


async def test_4429_for_a_client_that_floods(live: Api, server: Server) -> None:
    alice = await live.user()
    sock = await Socket.open(server.ws_url, "notifications", alice.token)
    await sock.recv_type("connected")
    for _ in range(200):
        await sock.send("garbage")
    code, seen = await sock.closed_with()
    assert code == 4429
    assert seen[0]["data"]["code"] == "invalid_json"  # garbage is answered, then limited
    assert seen[-1]["data"]["code"] == "rate_limited"


async def test_bad_client_messages_get_errors_and_the_connection_stays_open(
    strict_api: Api, strict: Server
) -> None:
    alice = await strict_api.user()
    sock = await Socket.open(strict.ws_url, "notifications", alice.token)
    await sock.recv_type("connected")
    for bad, code in (
        ("{", "invalid_json"),
        ("[1,2]", "unknown_type"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":"auth"}', "invalid_field"),
        ('{"type":"auth","token":"nope"}', "invalid_token"),
    ):
        await sock.send(bad)
        message = await sock.recv()
        assert message["type"] == "error" and message["data"]["code"] == code, bad
    await sock.send({"type": "ping"})
    assert (await sock.recv()) == {"type": "pong"}
    await sock.close()


async def test_4508_closes_a_consumer_that_stops_reading_and_nobody_else_waits(
    strict_api: Api, strict: Server
) -> None:
    alice = await strict_api.user()
    ws = await alice.workspace()
    silent = silent_socket(strict.port, f"/api/v1/ws/workspaces/{ws}/tasks?token={alice.token}")
    reader = await Socket.open(strict.ws_url, f"workspaces/{ws}/tasks", alice.token)
    await reader.recv_type("connected")
    big = "x" * 19_000
    total = 300
    received: list[int] = []

    async def read_all() -> None:
        while len(received) < total:
            received.append((await reader.recv_type("task_update"))["seq"])

    consumer = asyncio.create_task(read_all())
    for i in range(total):
        await alice.task(ws, title=f"t{i}", description=big)
    await asyncio.wait_for(consumer, 60)
    assert received == list(range(1, total + 1))
    # The silent client was cut off: its stream ends with a close frame carrying 4508.
    silent.setblocking(False)
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = silent.recv(1 << 20)
        except BlockingIOError:
            await asyncio.sleep(0.05)
            continue
        if not chunk:
            break
        data += chunk
    silent.close()
    reason = describe(4508).meaning.encode()
    # The close frame: code 4508 (0x119c), then its reason.
    assert bytes((0x88, 2 + len(reason))) + b"\x11\x9c" + reason in data
    metrics = (await strict_api.client.get("/metrics")).text
    assert "onetask_ws_slow_consumer_closes_total" in metrics


# Pings every 0.5 s; a peer heard from neither by message nor by pong for 1.5 s is idle.
lively = module_server("idle", ONETASK_WS_HEARTBEAT_S="0.5", ONETASK_WS_IDLE_TIMEOUT_S="1.5")
IDLE_S = 1.5


async def test_4408_for_a_peer_that_answers_no_ping_and_sends_nothing(lively: Server) -> None:
    """Of three clients, only the one that neither answers pings nor sends anything is
    closed (an `error`, then 4408); the one that only listens (its WebSocket library
    answers pings) and the one that only talks (and answers no ping) are still served
    five idle periods later."""
    async with lively.api() as api:
        alice = await api.user()
        ws = await alice.workspace()
        path = f"/api/v1/ws/workspaces/{ws}/tasks?token={alice.token}"
        started = time.monotonic()
        silent = await RawPeer.open(lively.port, path)
        talker = await RawPeer.open(lively.port, path)
        # ping_interval=None: the library sends no pings of its own; it answers the server's.
        listener = Socket(await websockets.connect(f"{lively.ws_url}{path}", ping_interval=None))
        first = await listener.recv()
        assert first["data"]["idle_timeout_s"] == IDLE_S and first["data"]["heartbeat_s"] == 0.5

        async def keep_talking() -> None:
            while True:
                talker.send_text('{"type":"ping"}')
                await talker.read_for(0.3)

        talking = asyncio.create_task(keep_talking())
        try:
            await silent.read_for(15)
            assert silent.eof, "a peer that answers no ping and sends nothing must be closed"
            assert time.monotonic() - started >= IDLE_S * 0.9  # not before its idle timeout
            assert b"\x89\x04" in silent.received  # it was pinged (unmasked, 4-byte payload)
            assert b'"code":"idle_timeout"' in silent.received
            assert silent.received.endswith(RawPeer.close_frame(4408, describe(4408).meaning))

            await asyncio.sleep(IDLE_S * 5)
            assert not talking.done() and not talker.eof
            talking.cancel()  # now only this test reads what the talker receives
            with contextlib.suppress(asyncio.CancelledError):
                await talking
            task = await alice.task(ws, title="still here")
            update = await listener.recv_type("task_update")
            assert update["data"]["id"] == task["id"]  # live, without having said a word
            await talker.read_for(1.0)
            assert b'"type":"task_update"' in talker.received and not talker.eof
            assert b'"type":"pong"' in talker.received
        finally:
            talking.cancel()
            silent.close()
            talker.close()
            await listener.close()


async def test_1001_on_shutdown_and_1000_when_the_client_closes(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        async with server.api() as api:
            alice = await api.user()
        sock = await Socket.open(server.ws_url, "notifications", alice.token)
        await sock.recv_type("connected")
        polite = await Socket.open(server.ws_url, "notifications", alice.token)
        await polite.recv_type("connected")
        await polite.ws.close(1000)
        assert polite.ws.close_code == 1000
        server.stop()
        code, seen = await sock.closed_with()
        assert code == 1001 and seen[-1]["data"]["code"] == "server_shutdown"
        assert sock.close_reason == describe(1001).meaning
    finally:
        server.kill()
