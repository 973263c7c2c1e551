"""A property-based fuzzer of WebSocket client messages against a real server.

Whatever a client sends — random bytes, random text, JSON of any shape, deep nesting,
wrong types, the right types with bad fields, frames over the size limit — the server
answers with an `error` (or the message's normal answer) and keeps the connection open,
or closes it with a documented code (1009 for an oversized frame). It never crashes,
never logs a traceback, and is healthy afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.servers import Server

MAX_BYTES = 8192
# Codes an invalid message may get; "unavailable" would mean the server failed on it.
INPUT_ERRORS = {
    "invalid_json",
    "unknown_type",
    "invalid_field",
    "invalid_token",
    "invalid_input",
    "conflict",
    "not_found",
}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("fuzzed"),
        ONETASK_WS_MAX_MESSAGE_BYTES=str(MAX_BYTES),
        ONETASK_WS_MESSAGES_PER_SECOND="100000",  # the fuzzer is not a flood
        ONETASK_WS_MESSAGE_BURST="100000",
    ).start()
    yield server
    server.stop()


class Target:
    """The three channels of one user, each reconnected when the server closes it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        name = f"fz{uuid.uuid4().hex[:8]}"
        with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as client:
            body = {"email": f"{name}@example.com", "username": name, "password": "password123"}
            assert client.post("/auth/register", json=body).status_code == 201
            login = client.post("/auth/login", data={"username": name, "password": "password123"})
            self.token = login.json()["access_token"]
            headers = {"Authorization": f"Bearer {self.token}"}
            ws = client.post("/workspaces", json={"name": "F"}, headers=headers).json()["id"]
            task = client.post(f"/workspaces/{ws}/tasks", json={"title": "T"}, headers=headers)
            self.task_id = int(task.json()["id"])
            focus = client.post(
                "/focus-sessions", json={"workspace_id": ws, "title": "F"}, headers=headers
            )
            self.focus_id = focus.json()["id"]
        self.paths = ["notifications", f"workspaces/{ws}/tasks", f"focus-sessions/{self.focus_id}"]
        self.sockets: dict[str, ClientConnection] = {}
        self.closes: list[int] = []

    def socket(self, path: str) -> ClientConnection:
        sock = self.sockets.get(path)
        if sock is None:
            url = f"{self.server.ws_url}/api/v1/ws/{path}?token={self.token}"
            sock = self.sockets[path] = connect(url, max_size=2**22, open_timeout=10)
            assert orjson.loads(sock.recv(timeout=10))["type"] == "connected"
        return sock

    def exchange(self, path: str, frame: str | bytes) -> list[dict[str, Any]] | int:
        """Send `frame` then a ping; return what came before the ping's pong, or the
        close code if the server closed the connection."""
        sock = self.socket(path)
        pongs = 2 if _is_ping(frame) else 1
        replies: list[dict[str, Any]] = []
        try:
            sock.send(frame)
            sock.send('{"type":"ping"}')
            while pongs:
                message = orjson.loads(sock.recv(timeout=10))
                if message == {"type": "pong"}:
                    pongs -= 1
                else:
                    replies.append(message)
        except ConnectionClosed as closed:
            del self.sockets[path]
            assert closed.rcvd is not None, "dropped without a close frame"
            self.closes.append(closed.rcvd.code)
            return closed.rcvd.code
        return replies

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()


def _is_ping(frame: str | bytes) -> bool:
    try:
        body = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("type") == "ping"


@pytest.fixture(scope="module")
def target(fuzzed: Server) -> Iterator[Target]:
    t = Target(fuzzed)
    yield t
    t.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
edges = [0, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]
ids = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(edges)
shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(["ping", "auth", "status_change", "set_task", "pong", "", "PING"])},
    optional={
        "token": st.text(max_size=40) | json_values,
        "status": st.sampled_from(["active", "on_break", "away", "left", "ACTIVE"]) | json_values,
        "task_id": ids | json_values,
        "seq": ids,
    },
).map(json.dumps)
focus = st.one_of(
    st.fixed_dictionaries({"type": st.just("set_task"), "task_id": ids | json_values}),
    st.fixed_dictionaries(
        {"type": st.just("status_change"), "status": st.sampled_from(["away", "x"]) | json_values}
    ),
).map(json.dumps)
wrong_type = st.fixed_dictionaries({"type": json_values}).map(json.dumps)


def nested(depth: int, balanced: bool) -> str:
    inner = "[" * depth + ("]" * depth if balanced else "")
    return '{"type":"ping","x":' + inner + "}"


deep = st.builds(nested, st.integers(min_value=1, max_value=3000), st.booleans())
huge = st.integers(min_value=MAX_BYTES + 1, max_value=4 * MAX_BYTES).map(
    lambda n: '{"type":"ping","pad":"' + "x" * n + '"}'
)
frames = st.one_of(
    st.binary(max_size=200),
    st.text(st.characters(codec="utf-8"), max_size=200),
    json_values.map(json.dumps),  # NaN, 2**70, escaped lone surrogates: all hostile
    shaped,
    shaped.map(str.encode),
    focus,
    focus,  # the same as a binary frame
    wrong_type,
    deep,
    huge,
)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
@given(frame=frames, channel=st.integers(min_value=0, max_value=2))
def test_every_client_message_is_answered_and_never_crashes_the_server(
    target: Target, frame: str | bytes, channel: int
) -> None:
    result = target.exchange(target.paths[channel], frame)
    size = len(frame.encode() if isinstance(frame, str) else frame)
    if isinstance(result, int):
        assert result == 1009 and size > MAX_BYTES, (result, frame[:200])
        return
    assert size <= MAX_BYTES, "an oversized frame was accepted"
    for reply in result:
        assert reply["type"] in ("error", "focus_update"), reply
        if reply["type"] == "error":
            assert reply["data"]["code"] in INPUT_ERRORS, (reply, frame[:200])
    # Each message gets an answer: its pong, its broadcast, or an error.
    answered_by_itself = _type_of(frame) == "ping" or (
        channel == 2 and _type_of(frame) in ("status_change", "set_task")
    )
    assert result or answered_by_itself, f"no answer to {frame[:200]!r}"


def _type_of(frame: str | bytes) -> Any:
    try:
        body = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return body.get("type") if isinstance(body, dict) else None


def test_the_server_is_healthy_after_the_fuzzing(fuzzed: Server, target: Target) -> None:
    assert fuzzed.process is not None and fuzzed.process.poll() is None
    assert httpx.get(fuzzed.url + "/healthz").status_code == 200
    assert httpx.get(fuzzed.url + "/readyz").status_code == 200
    assert target.exchange(target.paths[0], '{"type":"ping"}') == []  # still answers
    assert set(target.closes) <= {1009}
    log = fuzzed.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]
