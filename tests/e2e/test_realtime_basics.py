from __future__ import annotations

from tests.conftest import Api
from tests.e2e.servers import Server, Socket


async def test_guide_example_task_update_arrives_in_the_guide_shape(
    live: Api, server: Server
) -> None:
    alice = await live.user()
    ws = await alice.workspace()
    sock = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token)
    hello = await sock.recv()
    assert hello["type"] == "connected" and hello["data"]["seq"] == 0
    task = await alice.task(
        ws,
        title="New Task",
        description="Task description",
        priority="high",
        due_date="2025-04-01T12:00:00Z",
    )
    message = await sock.recv()
    assert message["type"] == "task_update" and message["action"] == "created"
    assert message["seq"] == 1
    data = message["data"]
    for field in (
        "id",
        "title",
        "description",
        "status",
        "priority",
        "due_date",
        "workspace_id",
        "user_id",
    ):
        assert field in data
    assert data["id"] == task["id"] and data["due_date"] == "2025-04-01T12:00:00Z"
    assert data["workspace_id"] == ws and data["user_id"] == alice.id
    await sock.close()


async def test_resume_with_since_gets_missed_events_in_order_once(
    live: Api, server: Server
) -> None:
    alice = await live.user()
    ws = await alice.workspace()
    first = await alice.task(ws, title="one")
    for title in ("two", "three"):
        await alice.task(ws, title=title)
    await alice.patch(f"/tasks/{first['id']}", json={"status": "done"})
    sock = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token, since=1)
    assert (await sock.recv())["data"]["seq"] == 4
    replayed = [await sock.recv() for _ in range(3)]
    assert [m["seq"] for m in replayed] == [2, 3, 4]
    assert [m["action"] for m in replayed] == ["created", "created", "completed"]
    await alice.task(ws, title="live")
    assert (await sock.recv())["seq"] == 5
    await sock.nothing_for(0.3)
    await sock.close()


async def test_a_new_workspace_never_inherits_a_deleted_ones_history(
    live: Api, server: Server
) -> None:
    alice = await live.user()
    old = await alice.workspace("Old")
    await alice.task(old, title="private to the old workspace")
    assert (await alice.delete(f"/workspaces/{old}")).status_code == 204
    new = await alice.workspace("New")
    assert new != old
    sock = await Socket.open(server.ws_url, f"workspaces/{new}/tasks", alice.token, since=0)
    assert (await sock.recv())["data"]["seq"] == 0
    await sock.nothing_for(0.3)
    await sock.close()
