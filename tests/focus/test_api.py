from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.conftest import Api, User


async def _session(host: User, workspace_id: int, **fields: Any) -> dict[str, Any]:
    r = await host.post(
        "/focus-sessions", json={"workspace_id": workspace_id, "title": "Deep work", **fields}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _people(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["user_id"]: p for p in body["participants"]}


async def test_create_has_defaults_and_the_host_joined(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    fs = await _session(alice, ws)
    assert fs["id"].startswith("focus-") and fs["id"][6:].isdigit()
    assert (fs["work_minutes"], fs["break_minutes"], fs["cycles"]) == (25, 5, 4)
    assert fs["status"] == "scheduled" and fs["host_id"] == alice.id
    assert fs["phase"] == "work" and fs["cycle"] == 1 and fs["phase_ends_at"] is None
    host = _people(fs)[alice.id]
    assert host["status"] == "active" and host["user"] == {
        "id": alice.id,
        "username": alice.username,
    }
    timer = fs["timer"]
    assert timer["status"] == "scheduled" and timer["cycles"] == 4 and "server_time" in timer
    again = (await alice.get(f"/focus-sessions/{fs['id']}")).json()
    assert again["id"] == fs["id"] and _people(again).keys() == {alice.id}


async def test_outsiders_get_404_and_malformed_ids_are_404(api: Api) -> None:
    alice, mallory = await api.user(), await api.user()
    ws = await alice.workspace()
    fs = await _session(alice, ws)
    for method, path in [
        ("GET", f"/focus-sessions/{fs['id']}"),
        ("POST", f"/focus-sessions/{fs['id']}/join"),
        ("POST", f"/focus-sessions/{fs['id']}/start"),
        ("PATCH", f"/focus-sessions/{fs['id']}/participants/me"),
    ]:
        r = await mallory.request(method, path, json={})
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    for bad in ("123", "focus-", "focus-abc", "focus-0", "FOCUS-1", "focus-99999999"):
        assert (await alice.get(f"/focus-sessions/{bad}")).status_code == 404, bad
    r = await mallory.post("/focus-sessions", json={"workspace_id": ws, "title": "x"})
    assert r.status_code == 404
    assert (await mallory.get("/focus-sessions", params={"workspace_id": ws})).status_code == 404
    assert fs["id"] not in [s["id"] for s in (await mallory.get("/focus-sessions")).json()["items"]]


async def test_invalid_input_is_422(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    for fields in ({"title": ""}, {"work_minutes": 0}, {"cycles": 0}, {"break_minutes": -1}):
        body = {"workspace_id": ws, "title": "ok", **fields}
        assert (await alice.post("/focus-sessions", json=body)).status_code == 422, fields
    fs = await _session(alice, ws)
    r = await alice.patch(f"/focus-sessions/{fs['id']}/participants/me", json={"status": "left"})
    assert r.status_code == 422


async def test_list_filters_by_workspace_and_status(api: Api) -> None:
    alice = await api.user()
    ws1, ws2 = await alice.workspace("one"), await alice.workspace("two")
    a = await _session(alice, ws1)
    b = await _session(alice, ws2)
    await alice.post(f"/focus-sessions/{b['id']}/start")
    ids = lambda r: [s["id"] for s in r.json()["items"]]  # noqa: E731
    assert ids(await alice.get("/focus-sessions", params={"workspace_id": ws1})) == [a["id"]]
    assert ids(await alice.get("/focus-sessions", params={"status": "running"})) == [b["id"]]
    assert set(ids(await alice.get("/focus-sessions"))) >= {a["id"], b["id"]}
    assert (await alice.get("/focus-sessions", params={"status": "nope"})).status_code == 422


async def test_only_the_host_controls_the_timer_in_valid_states(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))
    fs = await _session(alice, ws, work_minutes=10)
    path = f"/focus-sessions/{fs['id']}"
    assert (await bob.post(path + "/join")).status_code == 200
    for action in ("start", "pause", "resume", "end"):
        r = await bob.post(f"{path}/{action}")
        assert r.status_code == 403, action
    assert (await alice.post(path + "/pause")).status_code == 409
    assert (await alice.post(path + "/resume")).status_code == 409
    started = (await alice.post(path + "/start")).json()
    assert started["status"] == "running" and started["started_at"] is not None
    starts, ends = (
        datetime.fromisoformat(started[k]) for k in ("phase_started_at", "phase_ends_at")
    )
    assert (ends - starts).total_seconds() == 600
    assert (await alice.post(path + "/start")).status_code == 409

    paused = (await alice.post(path + "/pause")).json()
    assert paused["status"] == "paused" and paused["phase_ends_at"] is None
    remaining = paused["timer"]["remaining_s"]
    assert 590 < remaining <= 600
    resumed = (await alice.post(path + "/resume")).json()
    assert resumed["status"] == "running"
    new_end = datetime.fromisoformat(resumed["phase_ends_at"])
    server_time = datetime.fromisoformat(resumed["timer"]["server_time"])
    assert abs((new_end - server_time).total_seconds() - remaining) < 1
    assert (await alice.post(path + "/end")).json()["status"] == "completed"
    assert (await alice.post(path + "/end")).status_code == 409
    assert (await bob.post(path + "/join")).status_code == 409


async def test_ending_a_session_that_never_started_cancels_it(api: Api) -> None:
    alice = await api.user()
    fs = await _session(alice, await alice.workspace())
    ended = (await alice.post(f"/focus-sessions/{fs['id']}/end")).json()
    assert ended["status"] == "cancelled" and ended["ended_at"] is not None


async def test_participants_set_their_status_and_a_task_of_the_workspace(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))
    elsewhere = await bob.workspace("elsewhere")
    task = await alice.task(ws, title="Write")
    foreign = await bob.task(elsewhere, title="Other")
    fs = await _session(alice, ws)
    me = f"/focus-sessions/{fs['id']}/participants/me"
    assert (await bob.patch(me, json={"status": "away"})).status_code == 409  # not joined yet
    joined = await bob.post(
        f"/focus-sessions/{fs['id']}/join", json={"current_task_id": task["id"]}
    )
    assert _people(joined.json())[bob.id]["current_task_id"] == task["id"]
    r = await bob.patch(me, json={"status": "on_break", "current_task_id": None})
    assert r.status_code == 200
    assert (
        _people(r.json())[bob.id] | {"status": "on_break", "current_task_id": None}
        == _people(r.json())[bob.id]
    )
    r = await bob.patch(me, json={"current_task_id": foreign["id"]})
    assert r.status_code == 422
    r = await bob.patch(me, json={"current_task_id": 10**9})
    assert r.status_code == 422
    await alice.delete(f"/tasks/{task['id']}")
    assert (await bob.patch(me, json={"current_task_id": task["id"]})).status_code == 422


async def test_join_and_leave_are_idempotent_and_the_host_hands_over(api: Api) -> None:
    alice, bob, carol = await api.user(), await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"), (carol, "member"))
    fs = await _session(alice, ws)
    path = f"/focus-sessions/{fs['id']}"
    await bob.post(path + "/join")
    await carol.post(path + "/join")
    assert (await bob.post(path + "/join")).status_code == 200
    left = (await alice.post(path + "/leave")).json()
    assert left["host_id"] == bob.id  # the earliest remaining participant
    assert _people(left)[alice.id]["status"] == "left"
    assert (await alice.post(path + "/leave")).status_code == 200
    assert (await alice.post(path + "/start")).status_code == 403
    assert (await bob.post(path + "/start")).status_code == 200
    rejoined = (await alice.post(path + "/join")).json()
    assert _people(rejoined)[alice.id]["status"] == "active" and rejoined["host_id"] == bob.id


async def test_the_host_invites_a_member_who_gets_a_notification(api: Api) -> None:
    alice, bob, outsider = await api.user(), await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))
    fs = await _session(alice, ws, title="Sprint")
    path = f"/focus-sessions/{fs['id']}/participants"
    assert (await bob.post(path, json={"user_id": alice.id})).status_code == 403
    assert (await alice.post(path, json={"user_id": outsider.id})).status_code == 422
    r = await alice.post(path, json={"user_id": bob.id})
    assert r.status_code == 200 and _people(r.json())[bob.id]["status"] == "away"
    inbox = (await bob.get("/notifications")).json()["items"]
    invite = next(n for n in inbox if n["type"] == "focus_invite")
    assert invite["related_entity_type"] == "focus_session"
    assert str(invite["related_entity_id"]) == fs["id"] and "Sprint" in invite["content"]


async def test_inviting_again_while_invited_sends_nothing_more(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))
    fs = await _session(alice, ws)
    path = f"/focus-sessions/{fs['id']}"

    async def invites() -> int:
        inbox = (await bob.get("/notifications", params={"limit": 200})).json()["items"]
        return sum(n["type"] == "focus_invite" for n in inbox)

    for _ in range(50):
        r = await alice.post(path + "/participants", json={"user_id": bob.id})
        assert r.status_code == 200 and _people(r.json())[bob.id]["status"] == "away"
    assert await invites() == 1
    await bob.patch(path + "/participants/me", json={"status": "active"})
    await alice.post(path + "/participants", json={"user_id": bob.id})  # already taking part
    assert await invites() == 1
    assert _people((await bob.get(path)).json())[bob.id]["status"] == "active"
    await bob.post(path + "/leave")
    await alice.post(path + "/participants", json={"user_id": bob.id})  # invited anew
    assert await invites() == 2


async def test_a_member_removed_or_leaving_leaves_every_session_of_the_workspace(
    api: Api,
) -> None:
    alice, bob, carol = await api.user(), await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "admin"), (carol, "member"))
    other_ws = await bob.workspace("Elsewhere", (carol, "member"))
    hosted = await _session(bob, ws)
    joined = await _session(alice, ws)
    elsewhere = await _session(bob, other_ws)
    await carol.post(f"/focus-sessions/{hosted['id']}/join")
    await bob.post(f"/focus-sessions/{joined['id']}/join")
    assert (await bob.post(f"/focus-sessions/{hosted['id']}/start")).status_code == 200

    assert (await alice.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    after = (await carol.get(f"/focus-sessions/{hosted['id']}")).json()
    assert after["host_id"] == carol.id and after["status"] == "running"
    assert _people(after)[bob.id]["status"] == "left"
    assert (await carol.post(f"/focus-sessions/{hosted['id']}/pause")).status_code == 200
    assert (await carol.post(f"/focus-sessions/{hosted['id']}/end")).status_code == 200
    other = (await alice.get(f"/focus-sessions/{joined['id']}")).json()
    assert other["host_id"] == alice.id and _people(other)[bob.id]["status"] == "left"
    untouched = (await bob.get(f"/focus-sessions/{elsewhere['id']}")).json()
    assert _people(untouched)[bob.id]["status"] == "active"  # another workspace

    # Leaving the workspace oneself is the same.
    await carol.post(f"/focus-sessions/{elsewhere['id']}/join")
    assert (await carol.delete(f"/workspaces/{other_ws}/members/{carol.id}")).status_code == 204
    people = _people((await bob.get(f"/focus-sessions/{elsewhere['id']}")).json())
    assert people[carol.id]["status"] == "left" and people[bob.id]["status"] == "active"
