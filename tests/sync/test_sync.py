"""GET /sync: every change in all of the caller's workspaces since a cursor, from the
event log; a replica built only from its answers must equal the server's state."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from onetask.db import uow
from onetask.db.models import Event
from onetask.events.channels import workspace_channel
from onetask.tasks import service as tasks
from onetask.tasks.schemas import TaskPatch
from tests.conftest import Api, User

Key = tuple[str, int, int]  # kind, workspace, id


@dataclass
class Replica:
    """A client's copy, changed only by what /sync answers."""

    user: User
    cursor: str | None = None
    rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    pages: list[dict[str, Any]] = field(default_factory=list)

    async def page(self, limit: int = 200) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        r = await self.user.get("/sync", params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert len(body["items"]) <= limit
        for workspace_id in body["resets"]:
            self._drop(workspace_id)
        for item in body["items"]:
            key = (item["kind"], item["workspace_id"], item["id"])
            if item["kind"] == "workspace" and item["deleted"]:
                self._drop(item["workspace_id"])
            elif item["deleted"]:
                self.rows.pop(key, None)
            else:
                self.rows[key] = item["data"]
        self.cursor = body["cursor"]
        self.pages.append(body)
        return body

    async def pull(self, limit: int = 200) -> list[dict[str, Any]]:
        start = len(self.pages)
        while (await self.page(limit))["has_more"]:
            pass
        return self.pages[start:]

    def _drop(self, workspace_id: int) -> None:
        for key in [k for k in self.rows if k[1] == workspace_id]:
            del self.rows[key]

    def workspaces(self) -> set[int]:
        return {w for kind, w, _ in self.rows if kind == "workspace"}


async def server_state(user: User) -> dict[Key, dict[str, Any]]:
    """What the replica should hold, read over the ordinary REST routes."""
    state: dict[Key, dict[str, Any]] = {}
    for w in (await user.get("/workspaces")).json():
        wid = w["id"]
        state[("workspace", wid, wid)] = {k: v for k, v in w.items() if k != "role"}
        for m in (await user.get(f"/workspaces/{wid}/members")).json():
            state[("member", wid, m["user_id"])] = m
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = (await user.get(f"/workspaces/{wid}/tasks", params=params)).json()
            for t in page["items"]:
                state[("task", wid, t["id"])] = t
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return state


def items(pages: list[dict[str, Any]]) -> list[tuple[str, int, bool]]:
    return [(i["kind"], i["id"], i["deleted"]) for p in pages for i in p["items"]]


async def test_the_first_sync_is_a_snapshot_of_every_workspace(api: Api) -> None:
    alice, bob, outsider = await api.user(), await api.user(), await api.user()
    one = await alice.workspace("One", (bob, "member"))
    two = await alice.workspace("Two")
    await outsider.workspace("Not hers")
    kept = await alice.task(one, title="kept")
    gone = await alice.task(one, title="gone")
    assert (await alice.delete(f"/tasks/{gone['id']}")).status_code == 204
    await alice.task(two, title="other")

    replica = Replica(alice)
    (page,) = await replica.pull()
    assert sorted(page["resets"]) == sorted([one, two])
    assert replica.workspaces() == {one, two}
    assert replica.rows[("task", one, kept["id"])]["title"] == "kept"
    assert ("task", one, gone["id"]) not in replica.rows
    assert replica.rows[("member", one, bob.id)]["role"] == "member"
    assert replica.rows == await server_state(alice)


async def test_an_incremental_sync_returns_only_what_changed_with_tombstones(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    untouched = await alice.task(ws, title="untouched")
    edited = await alice.task(ws, title="before")
    doomed = await alice.task(ws, title="doomed")
    replica = Replica(alice)
    await replica.pull()

    assert (await alice.patch(f"/tasks/{edited['id']}", json={"title": "after"})).status_code == 200
    assert (
        await alice.patch(f"/tasks/{edited['id']}", json={"priority": "high"})
    ).status_code == 200
    assert (await alice.delete(f"/tasks/{doomed['id']}")).status_code == 204
    created = await alice.task(ws, title="new")
    (page,) = await replica.pull()
    assert page["resets"] == []
    assert sorted(items([page])) == sorted(
        [
            ("task", edited["id"], False),
            ("task", doomed["id"], True),
            ("task", created["id"], False),
        ]
    )  # each entity once, however often it changed; the untouched one not at all
    assert replica.rows[("task", ws, edited["id"])]["priority"] == "high"
    assert ("task", ws, untouched["id"]) in replica.rows
    assert replica.rows == await server_state(alice)

    (quiet,) = await replica.pull()
    assert quiet["items"] == [] and quiet["resets"] == [] and not quiet["has_more"]


async def test_workspace_and_member_changes_are_synced(api: Api) -> None:
    alice, bob, carol = await api.user(), await api.user(), await api.user()
    ws = await alice.workspace("Old name", (bob, "member"), (carol, "member"))
    replica = Replica(alice)
    await replica.pull()
    assert (await alice.patch(f"/workspaces/{ws}", json={"name": "New name"})).status_code == 200
    assert (
        await alice.patch(f"/workspaces/{ws}/members/{bob.id}", json={"role": "admin"})
    ).status_code == 200
    assert (await alice.delete(f"/workspaces/{ws}/members/{carol.id}")).status_code == 204
    (page,) = await replica.pull()
    assert sorted(items([page])) == sorted(
        [("workspace", ws, False), ("member", bob.id, False), ("member", carol.id, True)]
    )
    assert replica.rows[("workspace", ws, ws)]["name"] == "New name"
    assert replica.rows[("member", ws, bob.id)]["role"] == "admin"
    assert replica.rows == await server_state(alice)


async def test_pages_respect_the_limit_and_add_up_to_the_state(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    one = await alice.workspace("One", (bob, "member"))
    two = await alice.workspace("Two")
    for i in range(7):
        await alice.task(one if i % 2 else two, title=f"t{i}")
    replica = Replica(alice)
    pages = await replica.pull(limit=2)
    assert len(pages) == 6 and all(p["has_more"] for p in pages[:-1])  # 12 items
    assert sum(len(p["resets"]) for p in pages) == 2  # each snapshot starts once
    assert replica.rows == await server_state(alice)

    tasks_now = [await alice.task(one, title=f"more{i}") for i in range(5)]
    for task in tasks_now[:2]:
        assert (await alice.delete(f"/tasks/{task['id']}")).status_code == 204
    pages = await replica.pull(limit=2)
    # Collapsed within each page: a task created on one page and deleted on the next
    # comes twice, then as its tombstone.
    assert len(pages) >= 3 and [p["has_more"] for p in pages][-1] is False
    assert all(p["has_more"] for p in pages[:-1])
    assert all(p["resets"] == [] for p in pages)
    assert replica.rows == await server_state(alice)


async def test_a_workspace_left_or_deleted_becomes_a_tombstone(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    left = await alice.workspace("Left", (bob, "member"))
    deleted = await bob.workspace("Deleted", (alice, "member"))
    stays = await alice.workspace("Stays")
    replica = Replica(alice)
    await replica.pull()
    assert replica.workspaces() == {left, deleted, stays}

    assert (
        await alice.patch(f"/workspaces/{left}/members/{bob.id}", json={"role": "owner"})
    ).status_code == 200
    assert (await alice.delete(f"/workspaces/{left}/members/{alice.id}")).status_code == 204
    assert (await bob.delete(f"/workspaces/{deleted}")).status_code == 204
    (page,) = await replica.pull()
    assert sorted(items([page])) == sorted(
        [("workspace", left, True), ("workspace", deleted, True)]
    )
    assert replica.workspaces() == {stays}
    assert replica.rows == await server_state(alice)
    (quiet,) = await replica.pull()
    assert quiet["items"] == []  # reported once


async def test_a_workspace_joined_since_the_cursor_comes_as_a_snapshot(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    mine = await bob.workspace("Bob's")
    replica = Replica(bob)
    await replica.pull()
    theirs = await alice.workspace("Alice's")
    task = await alice.task(theirs, title="before bob")
    assert (
        await alice.post(f"/workspaces/{theirs}/members", json={"username": bob.username})
    ).status_code == 201
    (page,) = await replica.pull()
    assert page["resets"] == [theirs]
    assert replica.rows[("task", theirs, task["id"])]["title"] == "before bob"
    assert replica.workspaces() == {mine, theirs}
    assert replica.rows == await server_state(bob)

    # Removed and added again: what happened while away is not replayed, it is reset.
    assert (await alice.delete(f"/workspaces/{theirs}/members/{bob.id}")).status_code == 204
    await alice.task(theirs, title="while away")
    assert (
        await alice.post(f"/workspaces/{theirs}/members", json={"username": bob.username})
    ).status_code == 201
    (page,) = await replica.pull()
    assert page["resets"] == [theirs]
    assert replica.rows == await server_state(bob)


async def test_history_pruned_past_the_cursor_gives_a_fresh_snapshot(
    api: Api, app: FastAPI
) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    first = await alice.task(ws, title="first")
    replica = Replica(alice)
    await replica.pull()
    replica.rows[("task", ws, 999_999_999)] = {"stale": True}  # the client's copy drifted
    second = await alice.task(ws, title="second")
    assert (await alice.delete(f"/tasks/{first['id']}")).status_code == 204
    await alice.task(ws, title="third")
    async with app.state.database.session(write=True) as session:
        # What the relay's pruning does to events past the retention period.
        channel = workspace_channel(ws)
        await session.execute(delete(Event).where(Event.channel == channel, Event.seq <= 3))
        await uow.commit(session)
    (page,) = await replica.pull()
    assert page["resets"] == [ws]
    assert ("task", ws, 999_999_999) not in replica.rows
    assert replica.rows[("task", ws, second["id"])]["title"] == "second"
    assert replica.rows == await server_state(alice)


async def test_a_change_committing_during_a_sync_is_never_skipped(api: Api, app: FastAPI) -> None:
    """Trap 1: the late transaction has taken its seq but not committed while the sync
    reads; the cursor must not move past it."""
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws, title="early")
    replica = Replica(alice)
    await replica.pull()
    async with app.state.database.session(write=True) as session:
        loaded, actor = await tasks.get(session, task["id"], alice.id, lock=True)
        await tasks.update(session, loaded, actor, TaskPatch(title="late"), None)
        for hook in session.info.pop("before_commit").values():
            await hook(session)  # the seq is taken, the head row locked; not committed
        (during,) = await replica.pull()
        await uow.commit(session)
    assert during["items"] == []
    (after,) = await replica.pull()
    assert items([after]) == [("task", task["id"], False)]
    assert replica.rows[("task", ws, task["id"])]["title"] == "late"


async def test_concurrent_writes_while_paging_all_arrive(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    seed = [await alice.task(ws, title=f"seed{i}") for i in range(5)]
    replica = Replica(alice)
    await replica.pull(limit=3)
    stop = asyncio.Event()

    async def write() -> None:
        for i in range(30):
            target = seed[i % len(seed)]
            await alice.patch(f"/tasks/{target['id']}", json={"title": f"edit{i}"})
            if i % 3 == 0:
                await alice.task(ws, title=f"new{i}")
        stop.set()

    async def read() -> None:
        while not stop.is_set():
            await replica.page(limit=3)

    await asyncio.gather(write(), read())
    await replica.pull(limit=3)
    assert replica.rows == await server_state(alice)


async def test_another_workspace_never_appears(api: Api) -> None:
    alice, mallory = await api.user(), await api.user()
    ws = await alice.workspace()
    await alice.task(ws, title="secret")
    replica = Replica(mallory)
    await replica.pull()
    assert all(w != ws for _, w, _ in replica.rows)
    # Even with a cursor naming Alice's workspace, it is only ever a tombstone.
    forged = (
        base64.urlsafe_b64encode(json.dumps({"v": 1, "u": mallory.id, "w": {str(ws): 0}}).encode())
        .decode()
        .rstrip("=")
    )
    r = await mallory.get("/sync", params={"cursor": forged})
    assert r.status_code == 200
    assert [(i["kind"], i["deleted"], i["data"]) for i in r.json()["items"]] == [
        ("workspace", True, None)
    ]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(b'{"v":1,"u":1,"w":{"x":1}}').decode(),
        base64.urlsafe_b64encode(b'{"v":2,"w":{}}').decode(),
        base64.urlsafe_b64encode(b'{"v":1,"u":USER,"w":{"1":-1}}').decode(),
        base64.urlsafe_b64encode(b'{"v":1,"u":USER,"w":{"1":[1,99,0]}}').decode(),
        base64.urlsafe_b64encode(b'{"v":1,"u":USER,"w":{"1":true}}').decode(),
    ],
)
async def test_a_bad_cursor_is_422(api: Api, cursor: str) -> None:
    alice = await api.user()
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)) if "!" not in cursor else b""
    if b"USER" in raw:
        cursor = base64.urlsafe_b64encode(raw.replace(b"USER", str(alice.id).encode())).decode()
    r = await alice.get("/sync", params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_another_users_cursor_is_422(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    await alice.workspace()
    cursor = (await Replica(alice).pull())[0]["cursor"]
    r = await bob.get("/sync", params={"cursor": cursor})
    assert r.status_code == 422


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
async def test_a_bad_limit_is_422(api: Api, limit: str) -> None:
    alice = await api.user()
    assert (await alice.get("/sync", params={"limit": limit})).status_code == 422


async def test_sync_needs_a_sign_in(api: Api) -> None:
    r = await api.client.get("/api/v1/sync")
    assert r.status_code == 401


async def test_a_snapshot_in_progress_restarts_when_the_member_rejoined(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("Shared", (bob, "member"))
    for i in range(3):
        await alice.task(ws, title=f"t{i}")
    replica = Replica(bob)
    first = await replica.page(limit=2)
    assert first["resets"] == [ws] and first["has_more"]
    assert (await alice.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    assert (
        await alice.post(f"/workspaces/{ws}/members", json={"username": bob.username})
    ).status_code == 201
    pages = await replica.pull(limit=2)
    assert pages[0]["resets"] == [ws]
    assert replica.rows == await server_state(bob)
