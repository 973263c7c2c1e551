"""Limits a hostile or broken client runs into, on a real server: request body size,
connections per user, client messages per second, failed logins per address, the
WebSocket Origin allow-list and CORS. (1009 for an oversized frame and 4429 for garbage
floods: tests/e2e/test_close_codes.py and test_ws_fuzz.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets

from tests.conftest import NAMESPACE, Api
from tests.e2e.servers import Server, Socket, module_server

APP = "https://app.example"


limited = module_server(
    "limited",
    ONETASK_MAX_REQUEST_BYTES="16384",
    ONETASK_WS_MAX_CONNECTIONS_PER_USER="3",
    ONETASK_WS_MESSAGES_PER_SECOND="5",
    ONETASK_WS_MESSAGE_BURST="10",
    ONETASK_ALLOWED_ORIGINS=f"{APP},https://admin.example",
    ONETASK_CORS_ORIGINS=APP,
)


@pytest.fixture
async def api(limited: Server) -> AsyncIterator[Api]:
    async with limited.api() as client:
        yield client


def assert_problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status


async def test_a_request_body_over_the_limit_is_413_declared_or_streamed(api: Api) -> None:
    alice = await api.user()
    big = {"name": "x" * 20_000}
    assert_problem(await alice.post("/workspaces", json=big), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"name":"'
        for _ in range(40):
            yield b"x" * 1024
        yield b'"}'

    streamed = await alice.post(
        "/workspaces", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(streamed, 413)
    assert (await alice.get("/workspaces")).json() == []  # nothing was created
    assert (await alice.post("/workspaces", json={"name": "fits"})).status_code == 201


async def test_connections_per_user_are_capped_with_4429_and_freed_on_close(
    api: Api, limited: Server
) -> None:
    alice, bob = await api.user(), await api.user()
    socks = [await Socket.open(limited.ws_url, "notifications", alice.token) for _ in range(3)]
    for sock in socks:
        await sock.recv_type("connected")
    extra = await Socket.open(limited.ws_url, "notifications", alice.token)
    code, seen = await extra.closed_with()
    assert code == 4429 and seen[-1]["data"]["code"] == "too_many_connections"
    other = await Socket.open(limited.ws_url, "notifications", bob.token)  # others unaffected
    await other.recv_type("connected")
    await socks.pop().close()
    deadline = time.monotonic() + 10
    while True:  # the freed slot is usable once the server has seen the close
        again = await Socket.open(limited.ws_url, "notifications", alice.token)
        first = await again.recv()
        if first["type"] == "connected":
            break
        assert time.monotonic() < deadline, first
        await asyncio.sleep(0.1)
    for sock in [*socks, again, other]:
        await sock.close()


async def test_valid_messages_over_the_rate_are_closed_with_4429(api: Api, limited: Server) -> None:
    alice = await api.user()
    sock = await Socket.open(limited.ws_url, "notifications", alice.token)
    await sock.recv_type("connected")
    for _ in range(40):
        await sock.send({"type": "ping"})
    code, seen = await sock.closed_with()
    assert code == 4429 and seen[-1]["data"]["code"] == "rate_limited"
    assert 1 <= sum(m["type"] == "pong" for m in seen) <= 15  # the burst, then the cut


async def test_websocket_origins_outside_the_allow_list_get_1008(api: Api, limited: Server) -> None:
    alice = await api.user()
    url = f"{limited.ws_url}/api/v1/ws/notifications?token={alice.token}"
    for origin in ("https://evil.example", "null", f"{APP}.evil.example", "http://app.example"):
        async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            assert "origin_not_allowed" in str(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, origin
    for origin in (APP, "https://admin.example"):
        async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            assert '"connected"' in str(await ws.recv())


async def test_cors_preflight_is_allowed_only_for_the_configured_origins(api: Api) -> None:
    alice = await api.user()
    preflight = {"access-control-request-method": "PATCH"}
    preflight["access-control-request-headers"] = "authorization,content-type,if-match"
    ok = await api.client.options("/api/v1/tasks/1", headers={"origin": APP, **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == APP
    assert "PATCH" in ok.headers["access-control-allow-methods"]
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    denied = await api.client.options(
        "/api/v1/tasks/1", headers={"origin": "https://evil.example", **preflight}
    )
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers
    simple = await alice.get("/users/me", headers={"origin": APP})
    assert simple.headers["access-control-allow-origin"] == APP
    assert "etag" in simple.headers.get("access-control-expose-headers", "").lower()
    foreign = await alice.get("/users/me", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


async def test_without_cors_origins_no_cross_origin_reads_are_allowed(
    live: Api,
) -> None:
    r = await live.client.options(
        "/api/v1/users/me",
        headers={"origin": APP, "access-control-request-method": "GET"},
    )
    assert "access-control-allow-origin" not in r.headers


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("guarded"),
        ONETASK_LOGIN_MAX_FAILURES_PER_ADDRESS="5",
        ONETASK_LOGIN_WINDOW_S="8",
        # Its own budgets: other tests' failed logins from 127.0.0.1 are not counted here.
        ONETASK_BROKER_NAMESPACE=f"{NAMESPACE}-guarded",
    ).start()
    yield server
    server.stop()


async def test_failed_logins_from_one_address_over_many_accounts_get_429_then_recover(
    guarded: Server,
) -> None:
    async with httpx.AsyncClient(base_url=guarded.url, timeout=30) as client:
        alice = await Api(client).user()

        async def login(username: str, password: str, via: str = "") -> httpx.Response:
            form = {"username": username, "password": password}
            # Without ONETASK_FORWARDED_ALLOW_IPS the header is anyone's to forge: ignored.
            headers = {"x-forwarded-for": via} if via else {}
            return await client.post("/api/v1/auth/login", data=form, headers=headers)

        # A guesser spreads attempts over accounts (at once: the window is short).
        guesses = [login(f"victim{i}", "guess", via=f"203.0.113.{i}") for i in range(5)]
        for r in await asyncio.gather(*guesses):
            assert_problem(r, 401)
        limited = await login(alice.username, "password123", via="198.51.100.9")
        assert_problem(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 8
        deadline = time.monotonic() + 20
        while (r := await login(alice.username, "password123")).status_code == 429:
            assert time.monotonic() < deadline, "the window never passed"
            await asyncio.sleep(0.25)
        assert r.status_code == 200
