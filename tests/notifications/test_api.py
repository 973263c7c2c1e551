from __future__ import annotations

import asyncio
from typing import Any, get_args

import orjson
from fastapi import FastAPI
from sqlalchemy import select

from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import Event, User
from onetask.events.channels import notifications_channel
from onetask.notifications import service
from onetask.notifications.schemas import NotificationType
from tests.conftest import GUIDE_NOTIFICATION_FIELDS, Api
from tests.conftest import User as Client


async def inbox(user: Client, **params: Any) -> list[dict[str, Any]]:
    r = await user.get("/notifications", params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def team(api: Api) -> tuple[Client, Client, Client, int]:
    alice, bob, carol = await api.user(), await api.user(), await api.user()
    ws = await alice.workspace("Launch", (bob, "member"), (carol, "member"))
    return alice, bob, carol, ws


async def test_created_with_an_assignee_tells_the_assignee_only(api: Api) -> None:
    alice, bob, carol, ws = await team(api)
    task = await alice.task(ws, title="Project Proposal", assignee_id=bob.id)
    [n] = await inbox(bob)
    assert n.keys() >= GUIDE_NOTIFICATION_FIELDS
    assert n["type"] == "task_assigned" and n["title"] == "Task Assigned"
    assert n["content"] == f"{alice.username} assigned you 'Project Proposal'"
    assert n["related_entity_type"] == "task" and n["related_entity_id"] == task["id"]
    assert n["read"] is False and n["created_at"].endswith("Z")
    assert await inbox(alice) == [] and await inbox(carol) == []
    await alice.task(ws, title="Unassigned")
    assert len(await inbox(bob)) == 1 and await inbox(alice) == []


async def test_self_assignment_reads_in_the_second_person(api: Api) -> None:
    alice, _, _, ws = await team(api)
    await alice.task(ws, title="Mine", assignee_id=alice.id)
    [n] = await inbox(alice)
    assert n["content"] == "You've assigned yourself 'Mine'"


async def test_update_complete_delete_tell_owner_and_assignee_in_their_person(api: Api) -> None:
    alice, bob, carol, ws = await team(api)
    task = await alice.task(ws, title="Project Proposal", assignee_id=bob.id)
    path = f"/tasks/{task['id']}"

    assert (await bob.patch(path, json={"priority": "high"})).status_code == 200
    assert (await inbox(alice))[0]["content"] == f"{bob.username} updated 'Project Proposal'"
    assert (await inbox(bob))[0]["content"] == "You've updated 'Project Proposal'"
    assert {(await inbox(u))[0]["type"] for u in (alice, bob)} == {"task_updated"}

    assert (await alice.post(f"{path}/complete")).status_code == 200
    a, b = (await inbox(alice))[0], (await inbox(bob))[0]
    assert a["type"] == b["type"] == "task_completed"
    assert a["title"] == b["title"] == "Task Completed"
    assert a["content"] == "You've completed 'Project Proposal'"
    assert b["content"] == f"{alice.username} completed 'Project Proposal'"

    assert (await carol.delete(path)).status_code == 204
    a, b = (await inbox(alice))[0], (await inbox(bob))[0]
    assert a["type"] == b["type"] == "task_deleted"
    assert a["content"] == b["content"] == f"{carol.username} deleted 'Project Proposal'"
    assert a["related_entity_id"] == b["related_entity_id"] == task["id"]
    assert await inbox(carol) == []  # the actor is told only as owner or assignee

    assert (await bob.post(f"{path}/restore")).status_code == 200
    a, b = (await inbox(alice))[0], (await inbox(bob))[0]
    assert a["type"] == b["type"] == "task_updated" and a["title"] == "Task Restored"
    assert a["content"] == f"{bob.username} restored 'Project Proposal'"
    assert b["content"] == "You've restored 'Project Proposal'"
    assert [len(await inbox(u)) for u in (alice, bob, carol)] == [4, 5, 0]


async def test_owner_who_is_the_assignee_gets_one_notification_per_change(api: Api) -> None:
    alice, bob, _, ws = await team(api)
    task = await alice.task(ws, title="Solo", assignee_id=alice.id)
    await bob.post(f"/tasks/{task['id']}/complete")
    kinds = [n["type"] for n in await inbox(alice)]
    assert kinds == ["task_completed", "task_assigned"]


async def test_reassignment_tells_the_new_assignee_it_was_assigned(api: Api) -> None:
    alice, bob, carol, ws = await team(api)
    task = await alice.task(ws, title="Hand-off", assignee_id=bob.id)
    await alice.patch(f"/tasks/{task['id']}", json={"assignee_id": carol.id})
    [c] = await inbox(carol)
    assert c["type"] == "task_assigned"
    assert c["content"] == f"{alice.username} assigned you 'Hand-off'"
    assert [n["type"] for n in await inbox(alice)] == ["task_updated"]
    assert len(await inbox(bob)) == 1  # only the original assignment
    await alice.patch(f"/tasks/{task['id']}", json={"assignee_id": None})
    assert len(await inbox(carol)) == 1


async def test_an_owner_who_left_the_workspace_hears_nothing_more(api: Api) -> None:
    alice, bob, _, ws = await team(api)
    task = await bob.task(ws, title="Bob's", assignee_id=alice.id)
    assert (await bob.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    await alice.post(f"/tasks/{task['id']}/complete")
    assert await inbox(bob) == []
    assert (await inbox(alice))[0]["type"] == "task_completed"


async def test_muted_types_are_neither_stored_nor_counted(api: Api, app: FastAPI) -> None:
    alice, bob, _, ws = await team(api)
    assert (await bob.get("/notifications/preferences")).json() == {"muted": []}
    r = await bob.request(
        "PUT", "/notifications/preferences", json={"muted": ["task_updated", "task_updated"]}
    )
    assert r.status_code == 200 and r.json() == {"muted": ["task_updated"]}
    assert (await bob.get("/notifications/preferences")).json() == {"muted": ["task_updated"]}
    task = await alice.task(ws, title="Quiet", assignee_id=bob.id)
    await alice.patch(f"/tasks/{task['id']}", json={"title": "Quieter"})
    assert [n["type"] for n in await inbox(bob)] == ["task_assigned"]
    assert [n["type"] for n in await inbox(alice)] == ["task_updated"]
    events = await channel_events(app, bob.id)
    assert [e["type"] for e in events] == ["notification"]

    await bob.request("PUT", "/notifications/preferences", json={"muted": []})
    await alice.patch(f"/tasks/{task['id']}", json={"title": "Loud"})
    assert [n["type"] for n in await inbox(bob)] == ["task_updated", "task_assigned"]


async def test_preferences_reject_unknown_types(api: Api) -> None:
    bob = await api.user()
    for body in ({"muted": ["task_exploded"]}, {"muted": "task_updated"}, {"mute": []}):
        r = await bob.request("PUT", "/notifications/preferences", json=body)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == "application/problem+json"
    assert (await bob.get("/notifications/preferences")).json() == {"muted": []}


async def test_concurrent_preference_replacements_all_succeed_and_one_wins(api: Api) -> None:
    bob = await api.user()
    kinds = get_args(NotificationType)
    bodies = [
        sorted(kind for bit, kind in enumerate(kinds) if mask >> bit & 1)
        for mask in range(3, 3 + 20)
    ]
    puts = [bob.request("PUT", "/notifications/preferences", json={"muted": b}) for b in bodies]
    answers = await asyncio.gather(*puts)
    assert [r.status_code for r in answers] == [200] * len(bodies), [r.text for r in answers]
    final = (await bob.get("/notifications/preferences")).json()["muted"]
    assert final in bodies


async def test_list_is_newest_first_with_cursor_and_unread_filter(api: Api) -> None:
    alice, bob, _, ws = await team(api)
    for i in range(7):
        await alice.task(ws, title=f"t{i}", assignee_id=bob.id)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await bob.get("/notifications", params=params)).json()
        seen += [n["content"].rsplit(" ", 1)[1] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"'t{i}'" for i in reversed(range(7))]

    newest, *_ = await inbox(bob)
    assert (await bob.post(f"/notifications/{newest['id']}/read")).json()["read"] is True
    unread = await inbox(bob, unread_only=True)
    assert len(unread) == 6 and newest["id"] not in [n["id"] for n in unread]
    assert (await bob.get("/notifications/unread-count")).json() == {"count": 6}

    r = await bob.get("/notifications", params={"cursor": "not-a-cursor"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert (await bob.get("/notifications", params={"limit": 0})).status_code == 422


async def test_read_one_and_read_all_sync_other_devices(api: Api, app: FastAPI) -> None:
    alice, bob, _, ws = await team(api)
    for title in ("a", "b", "c"):
        await alice.task(ws, title=title, assignee_id=bob.id)
    first = (await inbox(bob))[-1]
    r = await bob.post(f"/notifications/{first['id']}/read")
    assert r.status_code == 200 and r.json()["read"] is True and r.json()["read_at"]
    again = await bob.post(f"/notifications/{first['id']}/read")
    assert again.status_code == 200 and again.json()["read_at"] == r.json()["read_at"]
    assert (await bob.post("/notifications/read-all")).json() == {"count": 2}
    assert (await bob.post("/notifications/read-all")).json() == {"count": 0}
    assert (await bob.get("/notifications/unread-count")).json() == {"count": 0}
    reads = [e for e in await channel_events(app, bob.id) if e["type"] == "notification_read"]
    assert [e["data"] for e in reads] == [
        {"ids": [first["id"]]},
        {"all": True},
    ]


async def test_another_users_notification_is_404_and_untouched(api: Api) -> None:
    alice, bob, carol, ws = await team(api)
    await alice.task(ws, title="Bob's", assignee_id=bob.id)
    [n] = await inbox(bob)
    for method, path in (
        ("POST", f"/notifications/{n['id']}/read"),
        ("DELETE", f"/notifications/{n['id']}"),
        ("POST", "/notifications/999999999/read"),
    ):
        r = await carol.request(method, path)
        assert r.status_code == 404, (method, path)
        assert r.headers["content-type"] == "application/problem+json"
    assert (await carol.post("/notifications/read-all")).json() == {"count": 0}
    [still] = await inbox(bob)
    assert still["read"] is False
    assert (await bob.delete(f"/notifications/{n['id']}")).status_code == 204
    assert (await bob.delete(f"/notifications/{n['id']}")).status_code == 404
    assert await inbox(bob) == []


async def test_focus_invite_for_the_focus_engine(api: Api, app: FastAPI) -> None:
    alice, bob = await api.user(), await api.user()
    database: Database = app.state.database
    async with database.session(write=True) as session:
        host = await session.get(User, alice.id)
        assert host is not None
        made = await service.notify_focus_invite(
            session, bob.id, host=host, focus_session_id="focus-12", title="Deep work"
        )
        itself = await service.notify_focus_invite(
            session, alice.id, host=host, focus_session_id="focus-12", title="Deep work"
        )
        await uow.commit(session)
    assert made is not None and itself is None
    [n] = await inbox(bob)
    assert n["type"] == "focus_invite" and n["title"] == "Focus Session Invite"
    assert n["content"] == f"{alice.username} invited you to focus on 'Deep work'"
    assert n["related_entity_type"] == "focus_session" and n["related_entity_id"] == "focus-12"

    await bob.request("PUT", "/notifications/preferences", json={"muted": ["focus_invite"]})
    async with database.session(write=True) as session:
        host = await session.get(User, alice.id)
        assert host is not None
        muted = await service.notify_focus_invite(
            session, bob.id, host=host, focus_session_id="focus-13", title="Again"
        )
        await uow.commit(session)
    assert muted is None and len(await inbox(bob)) == 1


async def test_openapi_documents_the_inbox(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/notifications",
        "/api/v1/notifications/unread-count",
        "/api/v1/notifications/read-all",
        "/api/v1/notifications/preferences",
        "/api/v1/notifications/{notification_id}/read",
        "/api/v1/notifications/{notification_id}",
    ):
        assert path in paths, path
    assert "404" in paths["/api/v1/notifications/{notification_id}/read"]["post"]["responses"]
    assert set(paths["/api/v1/notifications/preferences"]) == {"get", "put"}


async def channel_events(app: FastAPI, user_id: int) -> list[dict[str, Any]]:
    """What the user's notifications socket would replay, straight from the event log."""
    database: Database = app.state.database
    async with database.session(write=False) as session:
        query = (
            select(Event.message)
            .where(Event.channel == notifications_channel(user_id))
            .order_by(Event.seq)
        )
        return [orjson.loads(m) for m in (await session.execute(query)).scalars()]
