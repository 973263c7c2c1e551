"""Cross-tenant access (IDOR) on the endpoints the authorization matrix does not cover —
notifications and focus sessions — and on every WebSocket channel: someone else's
resource is always 404 / 4404, exactly like one that does not exist, and is left as it
was. (Users, workspaces and tasks: tests/test_authorization_matrix.py.)"""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, User
from tests.e2e.servers import Server, Socket

NOBODY = 2_000_000_000  # a valid id that names nothing


async def victim_and_intruder(live: Api) -> tuple[User, User, dict[str, Any]]:
    alice, bob, mallory = await live.user(), await live.user(), await live.user()
    ws = await alice.workspace("Private", (bob, "member"))
    task = await alice.task(ws, title="secret", assignee_id=bob.id)  # notifies bob
    fs = (await alice.post("/focus-sessions", json={"workspace_id": ws, "title": "F"})).json()
    notes = (await bob.get("/notifications")).json()["items"]
    assert notes, "bob was told about the assignment"
    await mallory.workspace("Mine")  # mallory is a member somewhere, just not there
    ids = {"ws": ws, "task": task["id"], "focus": fs["id"], "note": notes[0]["id"]}
    return bob, mallory, ids


def assert_not_found(r: Any, what: str) -> None:
    assert r.status_code == 404, (what, r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json", what


async def test_someone_elses_notifications_are_404_and_untouched(live: Api) -> None:
    bob, mallory, ids = await victim_and_intruder(live)
    note = ids["note"]
    for method, path in (
        ("POST", f"/notifications/{note}/read"),
        ("DELETE", f"/notifications/{note}"),
    ):
        theirs = await mallory.request(method, path)
        nobodys = await mallory.request(method, path.replace(str(note), str(NOBODY)))
        assert_not_found(theirs, path)
        assert theirs.json() == nobodys.json() | {"detail": theirs.json()["detail"]}
    assert (await mallory.get("/notifications")).json()["items"] == []
    assert (await mallory.post("/notifications/read-all")).json() == {"count": 0}
    still = (await bob.get("/notifications")).json()["items"]
    assert still[0]["id"] == note and still[0]["read"] is False


async def test_someone_elses_focus_session_is_404_on_every_operation(live: Api) -> None:
    bob, mallory, ids = await victim_and_intruder(live)
    fs = ids["focus"]
    for method, path, body in (
        ("GET", f"/focus-sessions/{fs}", None),
        ("POST", f"/focus-sessions/{fs}/join", None),
        ("POST", f"/focus-sessions/{fs}/leave", None),
        ("POST", f"/focus-sessions/{fs}/start", None),
        ("POST", f"/focus-sessions/{fs}/pause", None),
        ("POST", f"/focus-sessions/{fs}/resume", None),
        ("POST", f"/focus-sessions/{fs}/end", None),
        ("PATCH", f"/focus-sessions/{fs}/participants/me", {"status": "away"}),
        ("POST", f"/focus-sessions/{fs}/participants", {"user_id": mallory.id}),
    ):
        assert_not_found(await mallory.request(method, path, json=body), f"{method} {path}")
        unknown = path.replace(fs, f"focus-{NOBODY}")
        assert_not_found(await mallory.request(method, unknown, json=body), unknown)
    listed = await mallory.get("/focus-sessions", params={"workspace_id": ids["ws"]})
    assert listed.status_code in (200, 404)
    assert listed.status_code == 404 or listed.json()["items"] == []
    created = await mallory.post(
        "/focus-sessions", json={"workspace_id": ids["ws"], "title": "in your workspace"}
    )
    assert created.status_code in (404, 422), created.text
    session = (await bob.get(f"/focus-sessions/{fs}")).json()
    assert session["status"] == "scheduled"
    assert mallory.id not in [p["user_id"] for p in session["participants"]]


async def test_a_task_of_another_workspace_is_refused_like_a_missing_one(live: Api) -> None:
    _, mallory, ids = await victim_and_intruder(live)
    mine = await mallory.workspace("Own")
    own_fs = (
        await mallory.post("/focus-sessions", json={"workspace_id": mine, "title": "x"})
    ).json()
    path = f"/focus-sessions/{own_fs['id']}/participants/me"
    theirs = await mallory.patch(path, json={"current_task_id": ids["task"]})
    nobodys = await mallory.patch(path, json={"current_task_id": NOBODY})
    assert theirs.status_code == nobodys.status_code == 422
    assert theirs.json() == nobodys.json()  # not even the wording tells them apart


async def test_every_websocket_channel_of_someone_else_is_4404(live: Api, server: Server) -> None:
    bob, mallory, ids = await victim_and_intruder(live)
    for path in (f"workspaces/{ids['ws']}/tasks", f"focus-sessions/{ids['focus']}"):
        for target in (path, path.replace(str(ids["ws"]), str(NOBODY))):
            sock = await Socket.open(server.ws_url, target, mallory.token)
            code, seen = await sock.closed_with()
            assert code == 4404 and seen[-1]["data"]["code"] == "not_found", target
    # The notifications channel is always the caller's own: a set_task naming someone
    # else's task on mallory's own focus socket is refused like a missing task.
    mine = await mallory.workspace("Own")
    own = (await mallory.post("/focus-sessions", json={"workspace_id": mine, "title": "x"})).json()
    inbox = await Socket.open(server.ws_url, "notifications", mallory.token)
    await inbox.recv_type("connected")
    sock = await Socket.open(server.ws_url, f"focus-sessions/{own['id']}", mallory.token)
    await sock.recv_type("connected")
    answers = []
    for task_id in (ids["task"], NOBODY):
        await sock.send({"type": "set_task", "task_id": task_id})
        answers.append(await sock.recv_type("error"))
    assert answers[0] == answers[1] and answers[0]["data"]["code"] == "invalid_input"
    await bob.patch(f"/tasks/{ids['task']}", json={"title": "bob's change"})  # notifies alice
    await inbox.nothing_for(0.5)  # nothing of theirs reaches mallory's inbox
    await sock.close()
    await inbox.close()
