"""Token attacks against a real server, on REST and on every WebSocket channel: wrong
signature, `alg: none`, another algorithm, expired, a refresh token used as an access
token, a refresh token replayed after rotation (also racing the legitimate rotation),
and tokens of a user who no longer exists. (REST-only forgeries over ASGI:
tests/auth/test_auth.py.)"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import DATABASE_URL, SECRET, Api, User
from tests.e2e.servers import Server, Socket


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(user_id: int, ttl: int = 600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(user_id), "iat": now, "exp": now + ttl, "typ": "access", **extra}


FORGERIES = {
    "wrong-signature": lambda uid: jwt.encode(_claims(uid), "k" * 48, algorithm="HS256"),
    "alg-none": lambda uid: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(uid))}.",
    "alg-none-signed": lambda uid: (
        f"{_b64({'alg': 'none'})}.{_b64(_claims(uid))}."
        + jwt.encode(_claims(uid), SECRET, algorithm="HS256").split(".")[2]
    ),
    "other-algorithm": lambda uid: jwt.encode(_claims(uid), SECRET, algorithm="HS384"),
    "expired": lambda uid: jwt.encode(_claims(uid, ttl=-5), SECRET, algorithm="HS256"),
    "refresh-typed": lambda uid: jwt.encode(_claims(uid, typ="refresh"), SECRET, "HS256"),
    "non-numeric-subject": lambda uid: jwt.encode({**_claims(uid), "sub": "1 OR 1=1"}, SECRET),
    "tampered-payload": lambda uid: (
        lambda t: f"{t.split('.')[0]}.{_b64(_claims(uid + 1))}.{t.split('.')[2]}"
    )(jwt.encode(_claims(uid), SECRET, algorithm="HS256")),
}


async def channels(user: User) -> list[str]:
    ws = await user.workspace()
    fs = (await user.post("/focus-sessions", json={"workspace_id": ws, "title": "F"})).json()
    return ["notifications", f"workspaces/{ws}/tasks", f"focus-sessions/{fs['id']}"]


async def assert_refused_everywhere(
    server: Server, user: User, token: str, paths: list[str]
) -> None:
    r = await user.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    for path in paths:
        sock = await Socket.open(server.ws_url, path, token)
        code, seen = await sock.closed_with()
        assert code == 4401 and [m["type"] for m in seen] == ["error"], (path, code, seen)


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_tokens_are_refused_on_rest_and_every_channel(
    live: Api, server: Server, forgery: str
) -> None:
    alice = await live.user()
    paths = await channels(alice)
    await assert_refused_everywhere(server, alice, FORGERIES[forgery](alice.id), paths)


async def test_a_forged_token_in_an_auth_message_is_refused_and_does_not_extend_the_socket(
    live: Api, server: Server
) -> None:
    alice = await live.user()
    sock = await Socket.open(server.ws_url, "notifications", alice.token)
    await sock.recv_type("connected")
    for forge in FORGERIES.values():
        await sock.send({"type": "auth", "token": forge(alice.id)})
        assert (await sock.recv())["data"]["code"] == "invalid_token"
    bob = await live.user()
    await sock.send({"type": "auth", "token": bob.token})  # valid, but someone else's
    assert (await sock.recv())["data"]["code"] == "invalid_token"
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}
    await sock.close()


async def test_a_replayed_refresh_token_revokes_the_family_even_when_racing(
    live: Api,
) -> None:
    alice = await live.user()
    client = live.client

    async def refresh(token: str) -> httpx.Response:
        return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})

    # The thief and the owner present the same token at the same moment: at most one
    # rotation may win, and the reuse then kills every token of the family.
    first, second = await asyncio.gather(refresh(alice.refresh), refresh(alice.refresh))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses in ([200, 401], [401, 401]), (first.text, second.text)
    for r in (first, second):
        if r.status_code == 200:
            assert (await refresh(r.json()["refresh_token"])).status_code == 401
    assert (await refresh(alice.refresh)).status_code == 401
    # A new login is a new family and works.
    login = await client.post(
        "/api/v1/auth/login", data={"username": alice.username, "password": "password123"}
    )
    assert (await refresh(login.json()["refresh_token"])).status_code == 200


async def delete_user_row(server: Server, user_id: int) -> None:
    """There is no account deletion API: remove the row as an operator would."""
    url = DATABASE_URL or f"sqlite+aiosqlite:///{server.data_dir / 'onetask.db'}"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "sqlite":  # cascade as the app's own connections do
                await connection.execute(text("PRAGMA foreign_keys=ON"))
            await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
    finally:
        await engine.dispose()


async def test_tokens_of_a_deleted_user_are_refused(live: Api, server: Server) -> None:
    ghost = await live.user()
    assert (await ghost.get("/users/me")).status_code == 200
    owner = await live.user()
    task = await owner.task(await owner.workspace("Team", (ghost, "member")))
    assert (await ghost.get(f"/tasks/{task['id']}")).status_code == 200
    await delete_user_row(server, ghost.id)
    await assert_refused_everywhere(server, ghost, ghost.token, ["notifications"])
    # Task routes load the user with the task: a missing row is still a 401, not a 404.
    for r in (
        await ghost.get(f"/tasks/{task['id']}"),
        await ghost.patch(f"/tasks/{task['id']}", json={"title": "Haunted"}),
    ):
        assert r.status_code == 401, r.text
        assert r.json()["detail"] == "Access token rejected: the account no longer exists."
    refreshed = await live.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": ghost.refresh}
    )
    assert refreshed.status_code == 401
    login = await live.client.post(
        "/api/v1/auth/login", data={"username": ghost.username, "password": "password123"}
    )
    assert login.status_code == 401
