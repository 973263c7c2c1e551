"""The notification inbox over real server processes and real WebSocket clients."""

from __future__ import annotations

from typing import Any

from tests.conftest import GUIDE_NOTIFICATION_FIELDS, Api
from tests.conftest import User as Client
from tests.e2e.servers import Server, Socket

SILENCE_S = 0.5
DATA_FIELDS = GUIDE_NOTIFICATION_FIELDS | {"type"}  # the guide's, plus the additive type


async def inbox_socket(server: Server, user: Client, **params: Any) -> tuple[Socket, int]:
    sock = await Socket.open(server.ws_url, "notifications", user.token, **params)
    hello = await sock.recv()
    assert hello["type"] == "connected"
    return sock, int(hello["data"]["seq"])


async def notification(sock: Socket, seq: int) -> dict[str, Any]:
    message = await sock.recv()
    assert message["type"] == "notification" and message["seq"] == seq, message
    assert message["data"].keys() == DATA_FIELDS
    data: dict[str, Any] = message["data"]
    return data


def is_about(data: dict[str, Any], task: dict[str, Any], kind: str, title: str, text: str) -> None:
    assert data["type"] == kind and data["title"] == title and data["content"] == text
    assert data["read"] is False and data["created_at"].endswith("Z")
    assert data["related_entity_type"] == "task" and data["related_entity_id"] == task["id"]
    assert isinstance(data["id"], int)


async def test_each_task_event_notifies_the_right_people_in_the_right_words(
    live: Api, server: Server
) -> None:
    alice, bob, carol = await live.user(), await live.user(), await live.user()
    ws = await alice.workspace("Launch", (bob, "member"), (carol, "member"))
    a_sock, a_seq = await inbox_socket(server, alice)
    b_sock, b_seq = await inbox_socket(server, bob)
    c_sock, _ = await inbox_socket(server, carol)
    name = "'Project Proposal'"

    task = await alice.task(ws, title="Project Proposal", assignee_id=bob.id)
    assigned = await notification(b_sock, b_seq + 1)
    is_about(
        assigned, task, "task_assigned", "Task Assigned", f"{alice.username} assigned you {name}"
    )
    await a_sock.nothing_for(SILENCE_S)

    assert (await bob.patch(f"/tasks/{task['id']}", json={"priority": "high"})).status_code == 200
    is_about(
        await notification(a_sock, a_seq + 1),
        task,
        "task_updated",
        "Task Updated",
        f"{bob.username} updated {name}",
    )
    is_about(
        await notification(b_sock, b_seq + 2),
        task,
        "task_updated",
        "Task Updated",
        f"You've updated {name}",
    )

    assert (await alice.post(f"/tasks/{task['id']}/complete")).status_code == 200
    completed = await notification(a_sock, a_seq + 2)
    is_about(completed, task, "task_completed", "Task Completed", f"You've completed {name}")
    is_about(
        await notification(b_sock, b_seq + 3),
        task,
        "task_completed",
        "Task Completed",
        f"{alice.username} completed {name}",
    )

    assert (await carol.delete(f"/tasks/{task['id']}")).status_code == 204
    for sock, seq in ((a_sock, a_seq + 3), (b_sock, b_seq + 4)):
        data = await notification(sock, seq)
        is_about(data, task, "task_deleted", "Task Deleted", f"{carol.username} deleted {name}")

    # Carol acted but neither owns nor is assigned: her inbox stays silent throughout.
    await c_sock.nothing_for(SILENCE_S)
    # What was pushed is what the inbox holds.
    listed = (await alice.get("/notifications")).json()["items"]
    assert listed[1]["id"] == completed["id"] and listed[1]["content"] == completed["content"]
    for sock in (a_sock, b_sock, c_sock):
        await sock.close()


async def test_muted_types_are_not_pushed_or_listed(live: Api, server: Server) -> None:
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("Quiet", (bob, "member"))
    task = await alice.task(ws, title="Ship it", assignee_id=bob.id)
    r = await bob.request("PUT", "/notifications/preferences", json={"muted": ["task_completed"]})
    assert r.status_code == 200
    a_sock, a_seq = await inbox_socket(server, alice)
    b_sock, _ = await inbox_socket(server, bob)

    await alice.post(f"/tasks/{task['id']}/complete")
    assert (await notification(a_sock, a_seq + 1))["type"] == "task_completed"
    await b_sock.nothing_for(SILENCE_S)
    kinds = [n["type"] for n in (await bob.get("/notifications")).json()["items"]]
    assert kinds == ["task_assigned"]
    await a_sock.close()
    await b_sock.close()


async def test_two_devices_both_get_the_notification_and_the_read_state(
    live: Api, server: Server
) -> None:
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("Devices", (bob, "member"))
    phone, seq = await inbox_socket(server, bob)
    laptop, laptop_seq = await inbox_socket(server, bob)
    assert laptop_seq == seq

    first = await alice.task(ws, title="First", assignee_id=bob.id)
    await alice.task(ws, title="Second", assignee_id=bob.id)
    on_phone = [await notification(phone, seq + 1), await notification(phone, seq + 2)]
    on_laptop = [await notification(laptop, seq + 1), await notification(laptop, seq + 2)]
    assert on_phone == on_laptop
    assert on_phone[0]["related_entity_id"] == first["id"]

    read = await bob.post(f"/notifications/{on_phone[0]['id']}/read")
    assert read.status_code == 200
    for sock in (phone, laptop):
        message = await sock.recv()
        assert message["type"] == "notification_read" and message["seq"] == seq + 3
        assert message["data"]["ids"] == [on_phone[0]["id"]]

    assert (await bob.post("/notifications/read-all")).json() == {"count": 1}
    for sock in (phone, laptop):
        message = await sock.recv()
        assert message["type"] == "notification_read" and message["seq"] == seq + 4
        assert message["data"]["all"] is True
    assert (await bob.get("/notifications/unread-count")).json() == {"count": 0}
    await phone.close()
    await laptop.close()


async def test_a_notification_made_while_offline_arrives_on_reconnect(
    live: Api, server: Server
) -> None:
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("Offline", (bob, "member"))
    sock, seq = await inbox_socket(server, bob)
    await sock.close()

    task = await alice.task(ws, title="While you were out", assignee_id=bob.id)

    back, head = await inbox_socket(server, bob, since=seq)
    assert head == seq + 1
    data = await notification(back, seq + 1)
    is_about(
        data,
        task,
        "task_assigned",
        "Task Assigned",
        f"{alice.username} assigned you 'While you were out'",
    )
    await back.nothing_for(SILENCE_S)
    [listed] = (await bob.get("/notifications")).json()["items"]
    assert listed["id"] == data["id"] and listed["read"] is False
    await back.close()


async def test_nobody_receives_or_touches_another_users_notifications(
    live: Api, server: Server
) -> None:
    alice, bob, mallory = await live.user(), await live.user(), await live.user()
    ws = await alice.workspace("Private", (bob, "member"), (mallory, "admin"))
    m_sock, _ = await inbox_socket(server, mallory)
    b_sock, b_seq = await inbox_socket(server, bob)

    task = await alice.task(ws, title="Bob only", assignee_id=bob.id)
    data = await notification(b_sock, b_seq + 1)
    await bob.post(f"/notifications/{data['id']}/read")
    assert (await b_sock.recv())["type"] == "notification_read"
    await alice.post(f"/tasks/{task['id']}/complete")
    assert (await notification(b_sock, b_seq + 3))["type"] == "task_completed"

    for method, path in (
        ("POST", f"/notifications/{data['id']}/read"),
        ("DELETE", f"/notifications/{data['id']}"),
    ):
        r = await mallory.request(method, path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert (await mallory.get("/notifications")).json()["items"] == []
    await m_sock.nothing_for(SILENCE_S)
    await b_sock.nothing_for(SILENCE_S)  # Mallory's attempts changed nothing of Bob's
    assert len((await bob.get("/notifications")).json()["items"]) == 2
    await m_sock.close()
    await b_sock.close()
