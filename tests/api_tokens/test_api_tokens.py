"""Personal API tokens: minted by a password login, shown once, stored hashed, scoped,
expiring, and revoked at once on REST and on every open socket."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from onetask.db.models import ApiToken
from tests.conftest import Api, User
from tests.e2e.servers import Server, Socket


async def mint(user: User, *scopes: str, **fields: Any) -> dict[str, Any]:
    r = await user.post("/tokens", json={"name": "ci", "scopes": list(scopes), **fields})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_token_is_shown_once_stored_hashed_and_listed_without_its_secret(
    api: Api, app: FastAPI
) -> None:
    alice = await api.user()
    created = await mint(alice, "read")
    assert created["token"].startswith("ot_") and len(created["token"]) > 40
    assert created["scopes"] == ["read"] and created["expires_at"] is None
    async with app.state.database.session(write=False) as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == created["id"]))
    assert stored is not None
    assert stored.token_hash == hashlib.sha256(created["token"].encode()).hexdigest()
    assert created["token"] not in stored.token_hash

    listed = (await alice.get("/tokens")).json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and listed[0]["last_used_at"] is None


async def test_a_read_token_reads_and_is_refused_writes_with_403(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    secret = (await mint(alice, "read"))["token"]
    r = await api.client.get(f"/api/v1/workspaces/{ws}/tasks", headers=bearer(secret))
    assert r.status_code == 200, r.text
    r = await api.client.post(
        f"/api/v1/workspaces/{ws}/tasks", json={"title": "no"}, headers=bearer(secret)
    )
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "write scope" in r.json()["detail"]
    assert (await alice.get(f"/workspaces/{ws}/tasks")).json()["items"] == []


async def test_a_write_token_writes_as_its_owner_and_its_use_is_recorded(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    created = await mint(alice, "write")
    assert created["scopes"] == ["read", "write"]  # write implies read
    r = await api.client.post(
        f"/api/v1/workspaces/{ws}/tasks",
        json={"title": "by token"},
        headers=bearer(created["token"]),
    )
    assert r.status_code == 201, r.text
    assert r.json()["user_id"] == alice.id
    for _ in range(400):  # the last-use time is written beside the request
        listed = (await alice.get("/tokens")).json()
        if listed[0]["last_used_at"] is not None:
            break
        await asyncio.sleep(0.05)
    assert listed[0]["last_used_at"] is not None


async def test_revoking_a_token_ends_its_rest_access_at_once(api: Api) -> None:
    alice = await api.user()
    created = await mint(alice, "read")
    assert (
        await api.client.get("/api/v1/users/me", headers=bearer(created["token"]))
    ).status_code == 200
    assert (await alice.delete(f"/tokens/{created['id']}")).status_code == 204
    r = await api.client.get("/api/v1/users/me", headers=bearer(created["token"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert (await alice.get("/tokens")).json() == []
    assert (await alice.delete(f"/tokens/{created['id']}")).status_code == 404


async def test_another_users_token_is_404_and_not_listed(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    created = await mint(alice, "read")
    assert (await bob.get("/tokens")).json() == []
    assert (await bob.delete(f"/tokens/{created['id']}")).status_code == 404
    r = await api.client.get("/api/v1/users/me", headers=bearer(created["token"]))
    assert r.status_code == 200


async def test_a_token_cannot_manage_tokens(api: Api) -> None:
    alice = await api.user()
    created = await mint(alice, "write")
    headers = bearer(created["token"])
    for method, path, body in (
        ("POST", "/api/v1/tokens", {"name": "x", "scopes": ["read"]}),
        ("GET", "/api/v1/tokens", None),
        ("DELETE", f"/api/v1/tokens/{created['id']}", None),
    ):
        r = await api.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 403, (method, r.text)
        assert "password" in r.json()["detail"]


async def test_an_expired_token_is_401(api: Api, app: FastAPI) -> None:
    alice = await api.user()
    soon = datetime.now(UTC) + timedelta(hours=1)
    created = await mint(alice, "read", expires_at=soon.isoformat())
    assert created["expires_at"] is not None
    headers = bearer(created["token"])
    assert (await api.client.get("/api/v1/users/me", headers=headers)).status_code == 200
    async with app.state.database.session(write=True) as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(ApiToken).where(ApiToken.id == created["id"]).values(expires_at=past)
        )
        await session.commit()
    r = await api.client.get("/api/v1/users/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["admin"]},
        {"name": "x"},
        {"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "x", "scopes": ["read"], "expires_at": "2099-01-01T00:00:00"},
        {"name": "x", "scopes": ["read"], "owner": 1},
    ],
)
async def test_bad_input_is_422(api: Api, body: dict[str, Any]) -> None:
    alice = await api.user()
    r = await alice.post("/tokens", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_an_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/users/me", headers=bearer("ot_" + "x" * 43))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


# -- sockets -------------------------------------------------------------------------------


async def test_a_read_token_opens_the_sockets_and_revoking_it_closes_them_with_4401(
    server: Server, live: Api
) -> None:
    alice = await live.user()
    ws = await alice.workspace()
    created = await mint(alice, "read")
    other = await mint(alice, "read")
    tasks = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", created["token"])
    inbox = await Socket.open(server.ws_url, "notifications", created["token"])
    spared = await Socket.open(server.ws_url, "notifications", other["token"])
    for sock in (tasks, inbox, spared):
        await sock.recv_type("connected")
    await alice.task(ws, title="seen through a token")
    assert (await tasks.recv_type("task_update"))["data"]["title"] == "seen through a token"

    assert (await alice.delete(f"/tokens/{created['id']}")).status_code == 204
    for sock in (tasks, inbox):
        code, seen = await sock.closed_with()
        assert code == 4401
        assert seen[-1]["type"] == "error" and seen[-1]["data"]["code"] == "token_revoked"
    await spared.send({"type": "ping"})
    assert (await spared.recv_type("pong"))["type"] == "pong"
    await spared.close()

    refused = await Socket.open(server.ws_url, "notifications", created["token"])
    code, seen = await refused.closed_with()
    assert code == 4401 and "revoked" in seen[-1]["data"]["detail"]


async def test_a_tokens_socket_closes_with_4401_when_the_token_expires(
    server: Server, live: Api
) -> None:
    alice = await live.user()
    soon = datetime.now(UTC) + timedelta(seconds=3)
    created = await mint(alice, "read", expires_at=soon.isoformat())
    sock = await Socket.open(server.ws_url, "notifications", created["token"])
    await sock.recv_type("connected")
    code, seen = await sock.closed_with(timeout=30)
    assert code == 4401 and seen[-1]["data"]["code"] == "token_expired"
    refused = await Socket.open(server.ws_url, "notifications", created["token"])
    code, seen = await refused.closed_with()
    assert code == 4401 and "expired" in seen[-1]["data"]["detail"]


async def test_an_unknown_token_cannot_open_a_socket(server: Server) -> None:
    sock = await Socket.open(server.ws_url, "notifications", "ot_not-a-token")
    code, seen = await sock.closed_with()
    assert code == 4401 and "unknown or revoked" in seen[-1]["data"]["detail"]


@pytest.mark.scaled
async def test_revoking_on_one_process_closes_the_tokens_socket_on_another(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    a = Server(tmp_path_factory.mktemp("tokens-a")).start()
    b = Server(tmp_path_factory.mktemp("tokens-b")).start()
    try:
        async with a.api() as on_a:
            alice = await on_a.user()
            created = await mint(alice, "read")
            sock = await Socket.open(b.ws_url, "notifications", created["token"])
            await sock.recv_type("connected")
            assert (await alice.delete(f"/tokens/{created['id']}")).status_code == 204
            code, seen = await sock.closed_with(timeout=30)
            assert code == 4401 and seen[-1]["data"]["code"] == "token_revoked"
    finally:
        a.stop()
        b.stop()
