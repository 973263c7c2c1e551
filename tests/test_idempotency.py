"""`Idempotency-Key`: a retried write gets the first answer and changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select

from onetask import idempotency
from onetask.db import uow
from onetask.db.models import ChannelHead, IdempotencyKey
from onetask.db.types import utcnow
from onetask.events.channels import workspace_channel
from tests.conftest import Api, User


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def head(app: FastAPI, workspace_id: int) -> int:
    async with app.state.database.session(write=False) as session:
        query = select(ChannelHead.last_seq).where(
            ChannelHead.channel == workspace_channel(workspace_id)
        )
        return (await session.scalar(query)) or 0


async def titles(user: User, ws: int) -> list[str]:
    r = await user.get(f"/workspaces/{ws}/tasks", params={"include_deleted": "true"})
    return [t["title"] for t in r.json()["items"]]


async def test_a_retried_create_replays_the_first_answer_and_creates_nothing(
    api: Api, app: FastAPI
) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    headers = key()
    first = await alice.post(f"/workspaces/{ws}/tasks", json={"title": "Once"}, headers=headers)
    assert first.status_code == 201
    seq = await head(app, ws)
    again = await alice.post(f"/workspaces/{ws}/tasks", json={"title": "Once"}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await titles(alice, ws) == ["Once"]
    assert await head(app, ws) == seq  # no second event for live subscribers


async def test_a_replayed_patch_changes_nothing_made_since(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws, title="v1")
    headers = key()
    first = await alice.patch(f"/tasks/{task['id']}", json={"title": "v2"}, headers=headers)
    assert first.status_code == 200 and first.json()["version"] == 2
    assert (await alice.patch(f"/tasks/{task['id']}", json={"title": "v3"})).status_code == 200
    again = await alice.patch(f"/tasks/{task['id']}", json={"title": "v2"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    now = (await alice.get(f"/tasks/{task['id']}")).json()
    assert now["title"] == "v3" and now["version"] == 3


async def test_a_replayed_delete_is_204_again(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws)
    headers = key()
    for _ in range(2):
        r = await alice.delete(f"/tasks/{task['id']}", headers=headers)
        assert r.status_code == 204 and r.content == b""


async def test_the_same_key_on_another_request_is_422(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    headers = key()
    assert (
        await alice.post(f"/workspaces/{ws}/tasks", json={"title": "A"}, headers=headers)
    ).status_code == 201
    for method, path, body in (
        ("POST", f"/workspaces/{ws}/tasks", {"title": "B"}),
        ("POST", "/workspaces", {"name": "A"}),
        ("PATCH", f"/workspaces/{ws}", {"name": "A"}),
    ):
        r = await alice.request(method, path, json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "different request" in r.json()["detail"]
    assert await titles(alice, ws) == ["A"]


async def test_keys_are_per_user(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws_a, ws_b = await alice.workspace(), await bob.workspace()
    headers = key()
    a = await alice.post(f"/workspaces/{ws_a}/tasks", json={"title": "A"}, headers=headers)
    b = await bob.post(f"/workspaces/{ws_b}/tasks", json={"title": "B"}, headers=headers)
    assert a.status_code == b.status_code == 201
    assert b.json()["id"] != a.json()["id"] and b.json()["title"] == "B"
    assert "idempotent-replayed" not in b.headers
    # Carol sending Alice's very request under Alice's key gets her own answer, not Alice's.
    carol = await api.user()
    r = await carol.post(f"/workspaces/{ws_a}/tasks", json={"title": "A"}, headers=headers)
    assert r.status_code == 404


async def test_concurrent_duplicates_make_one_change_and_get_the_same_answer(
    api: Api, app: FastAPI
) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    headers = key()
    answers = await asyncio.gather(
        *(
            alice.post(f"/workspaces/{ws}/tasks", json={"title": "Racing"}, headers=headers)
            for _ in range(4)
        )
    )
    assert [r.status_code for r in answers] == [201] * 4
    assert len({r.json()["id"] for r in answers}) == 1
    assert await titles(alice, ws) == ["Racing"]
    assert await head(app, ws) == 1


async def test_a_refused_request_stores_nothing_and_the_key_stays_free(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    headers = key()
    r = await alice.post(f"/workspaces/{ws}/tasks", json={"title": ""}, headers=headers)
    assert r.status_code == 422
    r = await alice.post(f"/workspaces/{ws}/tasks", json={"title": "Fixed"}, headers=headers)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


async def test_a_member_added_twice_with_one_key_is_not_a_conflict(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace()
    headers = key()
    body = {"username": bob.username}
    first = await alice.post(f"/workspaces/{ws}/members", json=body, headers=headers)
    again = await alice.post(f"/workspaces/{ws}/members", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()


async def test_bad_keys_and_routes_without_a_user_are_422(api: Api) -> None:
    alice = await api.user()
    for bad in ("x" * 256, "tab\there"):
        r = await alice.post("/workspaces", json={"name": "W"}, headers={"Idempotency-Key": bad})
        assert r.status_code == 422, r.text
    r = await api.client.post(
        "/api/v1/auth/login",
        data={"username": alice.username, "password": "password123"},
        headers=key(),
    )
    assert r.status_code == 422 and "signs nobody in" in r.json()["detail"]
    r = await alice.post("/tokens", json={"name": "t", "scopes": ["read"]}, headers=key())
    assert r.status_code == 422 and "secret" in r.json()["detail"]
    assert (await alice.get("/tokens")).json() == []


async def test_keys_are_kept_24_hours_then_purged(api: Api, app: FastAPI) -> None:
    alice = await api.user()
    headers = key()
    first = await alice.post("/workspaces", json={"name": "Kept"}, headers=headers)
    async with app.state.database.session(write=True) as session:
        assert await idempotency.purge(session, utcnow() + timedelta(hours=23)) == 0
        await uow.commit(session)
    again = await alice.post("/workspaces", json={"name": "Kept"}, headers=headers)
    assert again.json()["id"] == first.json()["id"]
    async with app.state.database.session(write=True) as session:
        assert await idempotency.purge(session, utcnow() + timedelta(hours=25)) >= 1
        await uow.commit(session)
        query = select(IdempotencyKey).where(IdempotencyKey.user_id == alice.id)
        assert (await session.scalars(query)).all() == []
    fresh = await alice.post("/workspaces", json={"name": "Kept"}, headers=headers)
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]


async def test_the_key_is_documented_on_every_signed_in_write(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in ("post", "patch", "delete") or "security" not in op:
                continue
            names = [p["name"] for p in op.get("parameters", [])]
            expected = (method, path) != ("post", "/api/v1/tokens")
            assert ("Idempotency-Key" in names) == expected, (method, path)
