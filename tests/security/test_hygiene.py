"""Security hygiene: secrets never reach the logs, and are never defaulted when several
processes must share them."""

from __future__ import annotations

import asyncio
import secrets as random_secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.conftest import Api
from tests.e2e.servers import Server, Socket, free_port, raw_request, run_cli, silent_socket

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def chatty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server logging everything it can (debug), to prove that even then no secret
    is written."""
    server = Server(tmp_path_factory.mktemp("chatty"), ONETASK_LOG_LEVEL="debug").start()
    yield server
    server.stop()


async def test_no_token_password_or_refresh_token_is_ever_logged(chatty: Server) -> None:
    secrets: list[str] = [PASSWORD]
    async with httpx.AsyncClient(base_url=chatty.url, timeout=30) as client:
        api = Api(client)
        alice = await api.user(password=PASSWORD)
        secrets += [alice.token, alice.refresh]
        ws = await alice.workspace()
        # Tokens wherever a careless client might put them: header, query, form, JSON.
        for key in ("token", "access_token", "refresh_token"):
            r = await client.get(f"/api/v1/workspaces?{key}={alice.token}", headers=alice.headers)
            assert r.status_code == 422  # not a parameter of the operation: named, not echoed
            assert alice.token not in r.text
        rotated = (
            await client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh})
        ).json()
        secrets += [rotated["access_token"], rotated["refresh_token"]]
        reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh})
        assert reused.status_code == 401
        wrong = await client.post(
            "/api/v1/auth/login", data={"username": alice.username, "password": PASSWORD + "!"}
        )
        assert wrong.status_code == 401
        secrets.append(PASSWORD + "!")
        login = (
            await client.post(
                "/api/v1/auth/login", data={"username": alice.username, "password": PASSWORD}
            )
        ).json()
        secrets += [login["access_token"], login["refresh_token"]]
        await client.post("/api/v1/auth/logout", json={"refresh_token": login["refresh_token"]})
        # And over WebSockets: the query string, an auth message, refusals.
        sock = await Socket.open(chatty.ws_url, f"workspaces/{ws}/tasks", login["access_token"])
        await sock.recv_type("connected")
        await sock.send({"type": "auth", "token": rotated["access_token"]})
        await sock.send({"type": "auth", "token": rotated["access_token"] + "x"})
        assert (await sock.recv_type("error"))["data"]["code"] == "invalid_token"
        await alice.task(ws, title="logged?")
        await sock.recv_type("task_update")
        await sock.close()
        refused = await Socket.open(chatty.ws_url, "workspaces/999999/tasks", alice.token)
        await refused.closed_with()
        garbage = await Socket.open(chatty.ws_url, "notifications", alice.token + "tampered")
        await garbage.closed_with()
        marker = f"/api/v1/workspaces?marker={time.time_ns()}"
        await client.get(marker, headers=alice.headers)
    deadline = time.monotonic() + 10
    while marker not in (log := chatty.log.read_text()):  # the access log is written
        assert time.monotonic() < deadline, "the server never logged the last request"
        await asyncio.sleep(0.05)
    assert "token=[redacted]" in log and "refresh_token=[redacted]" in log
    for secret in secrets:
        assert secret not in log
        if secret.count(".") == 2:  # a JWT: not even its signature or payload alone
            _, payload, signature = secret.split(".")
            assert payload not in log and signature not in log


async def test_tokens_are_redacted_however_the_parameter_is_spelled(chatty: Server) -> None:
    async with chatty.api() as api:
        alice = await api.user(password=PASSWORD)
    # The server decodes parameter names, so `%74oken` is `token` to it: a socket opens.
    async with websockets.connect(
        f"{chatty.ws_url}/api/v1/ws/notifications?%74oken={alice.token}"
    ) as accepted:
        assert orjson.loads(await accepted.recv())["type"] == "connected"
    # A WebSocket request line keeps its fragment in the query: `#&token=` is accepted too.
    silent_socket(chatty.port, f"/api/v1/ws/notifications?x=1#&token={alice.token}").close()
    # Opaque secrets (not JWT-shaped) under every spelling a client might use.
    spellings = [
        "%74oken={}",
        "%74%6F%6B%65%6E={}",
        "%2574oken={}",
        "TOKEN={}",
        "Access_Token={}",
        "refresh%5Ftoken={}",
        "token={}&token={}",
        "x=1;token={}",
        "x=1#token={}",
        "x=1%26token%3D{}",
    ]
    secrets = [alice.token]
    for spelling in spellings:
        values = [random_secrets.token_urlsafe(24) for _ in range(spelling.count("{}"))]
        secrets += values
        target = "/api/v1/workspaces?" + spelling.format(*values)
        answer = raw_request(
            chatty.port,
            f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice.token}\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        # REST takes no such parameter: 422 naming it (200 where it hides behind `x`)
        assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 422")), answer[:200]
        assert not any(v.encode() in answer for v in values)  # never echoed
    marker = f"/api/v1/workspaces?marker={time.time_ns()}"
    raw_request(
        chatty.port, f"GET {marker} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    deadline = time.monotonic() + 10
    while marker not in (log := chatty.log.read_text()):
        assert time.monotonic() < deadline, "the server never logged the last request"
        await asyncio.sleep(0.05)
    assert "%74oken=[redacted]" in log and "TOKEN=[redacted]" in log  # logged, redacted
    for secret in secrets:
        assert secret not in log


def test_the_scaled_mode_refuses_to_start_without_a_shared_secret(tmp_path: Path) -> None:
    port = str(free_port())
    database = "postgresql+asyncpg://postgres@127.0.0.1:1/never_reached"
    result = run_cli(tmp_path, "serve", "--port", port, ONETASK_DATABASE_URL=database)
    assert result.returncode != 0
    assert "ONETASK_SECRET_KEY" in result.stderr and "required" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # nothing was generated instead
    short = run_cli(
        tmp_path, "serve", "--port", port, ONETASK_DATABASE_URL=database,
        ONETASK_SECRET_KEY="too-short",
    )  # fmt: skip
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
    with_redis = run_cli(
        tmp_path, "serve", "--port", port, "--workers", "2",
        ONETASK_BROKER_URL="redis://127.0.0.1:1/0", ONETASK_DATABASE_URL=database,
    )  # fmt: skip
    assert with_redis.returncode != 0 and "ONETASK_SECRET_KEY" in with_redis.stderr


def test_the_embedded_secret_is_generated_once_and_readable_only_by_its_owner(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path, ONETASK_SECRET_KEY="", ONETASK_DATABASE_URL="")
    server.env.pop("ONETASK_SECRET_KEY")
    server.env.pop("ONETASK_DATABASE_URL")
    server.env["ONETASK_BROKER_URL"] = "memory://"
    server.start()
    try:
        key = tmp_path / "secret_key"
        assert key.stat().st_mode & 0o777 == 0o600
        assert len(key.read_text().strip()) >= 32
        assert key.read_text().strip() not in server.log.read_text()
    finally:
        server.stop()
