"""GET /asyncapi.json: a valid AsyncAPI 3.0 document that describes what the server really sends.

asyncapi-3.0.0.schema.json is the official AsyncAPI 3.0.0 JSON Schema, vendored unchanged
from the npm package @asyncapi/specs 6.11.1 (schemas/3.0.0-without-$id.json, Apache-2.0):
no PyPI package ships it, and tests never fetch anything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from fastapi.routing import APIWebSocketRoute
from jsonschema import Draft7Validator, Draft202012Validator
from pydantic import BaseModel

from onetask.events import client_messages
from onetask.events.messages import NotificationType, ResyncRequiredData
from onetask.realtime.asyncapi import CHANNELS, CLIENT_MESSAGES, SERVER_MESSAGES, document
from onetask.realtime.endpoints import router as websocket_routes
from tests.conftest import Api
from tests.e2e.servers import Server, Socket

ASYNCAPI_SCHEMA = json.loads(Path(__file__).with_name("asyncapi-3.0.0.schema.json").read_text())
DOC = document()
README = Path(__file__).parents[2] / "README.md"


def payload_validator(channel_id: str, kind: str) -> Draft202012Validator:
    """The payload schema of the message `kind` (its wire `type`) on that channel."""
    channel = DOC["channels"][channel_id]
    for ref in channel["messages"].values():
        message = resolve(ref["$ref"])
        if message["name"] == kind:
            root = {"$ref": message["payload"]["$ref"], "components": DOC["components"]}
            return Draft202012Validator(root)
    raise AssertionError(f"{kind!r} is not a message of channel {channel_id!r}")


def resolve(pointer: str) -> Any:
    node: Any = DOC
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_document_is_valid_asyncapi_3() -> None:
    Draft7Validator(ASYNCAPI_SCHEMA).validate(DOC)


def test_the_schema_check_rejects_a_broken_document() -> None:
    broken = json.loads(json.dumps(DOC))
    broken["operations"]["sendWorkspaceTasks"]["action"] = "publish"  # AsyncAPI 2 wording
    del broken["channels"]["notifications"]["address"]
    broken["channels"]["notifications"]["adress"] = "/typo"
    errors = list(Draft7Validator(ASYNCAPI_SCHEMA).iter_errors(broken))
    assert errors


def test_every_reference_resolves() -> None:
    for pointer in refs(DOC):
        assert pointer.startswith("#/"), pointer
        assert resolve(pointer) is not None


def test_every_object_schema_describes_its_fields() -> None:
    # A custom serializer can silently turn a model into a bare "any object".
    for name, schema in document()["components"]["schemas"].items():
        if schema.get("type") == "object":
            assert schema.get("properties"), f"{name} lost its fields: {schema}"


def test_channels_are_the_servers_websocket_routes() -> None:
    routes = {
        "/api/v1" + route.path
        for route in websocket_routes.routes
        if isinstance(route, APIWebSocketRoute)
    }
    addresses = {channel["address"] for channel in DOC["channels"].values()}
    assert addresses == routes
    for channel in DOC["channels"].values():
        query = channel["bindings"]["ws"]["query"]
        assert query["required"] == ["token"] and "since" in query["properties"]
    assert set(DOC["channels"]["workspaceTasks"]["parameters"]) == {"workspace_id"}
    assert set(DOC["channels"]["focusSession"]["parameters"]) == {"session_id"}


def test_every_message_model_is_published_with_its_generated_schema() -> None:
    schemas = DOC["components"]["schemas"]
    for message in [*SERVER_MESSAGES.values(), *CLIENT_MESSAGES.values()]:
        published = DOC["components"]["messages"][message.id]
        assert published["payload"] == {"$ref": f"#/components/schemas/{message.model.__name__}"}
        assert schemas[message.model.__name__]["properties"]["type"]["const"] == published["name"]
    used = {m for c in CHANNELS for m in c.sent + c.received}
    assert used == set(SERVER_MESSAGES) | set(CLIENT_MESSAGES)
    close_codes = {c["code"] for c in DOC["x-close-codes"]}
    assert {1000, 1001, 4401, 4403, 4404, 4408, 4429, 4508} <= close_codes


def readme_table(header: str) -> list[list[str]]:
    """The rows of the README table whose header row starts with `header`."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_readme_and_asyncapi_list_the_same_close_codes() -> None:
    in_readme = [int(row[0]) for row in readme_table("| close code |")]
    assert in_readme == [c["code"] for c in DOC["x-close-codes"]]
    assert {1002, 1007, 1011} <= set(in_readme)  # protocol violations, outages
    assert all(c["meaning"] and c["clientShould"] for c in DOC["x-close-codes"])
    actions = {"stop", "reconnect", "backoff", "relogin"}
    assert all(c["action"] in actions for c in DOC["x-close-codes"])


def test_every_resync_reason_the_server_sends_is_documented() -> None:
    sent = set(get_args(ResyncRequiredData.model_fields["reason"].annotation))
    documented = {r["reason"] for r in DOC["x-resync-reasons"]}
    assert documented == sent
    assert all(r["meaning"] and r["clientShould"] for r in DOC["x-resync-reasons"])
    schema = DOC["components"]["schemas"]["ResyncRequiredData"]["properties"]["reason"]
    assert set(schema["enum"]) == sent
    in_readme = {re.sub(r"`", "", row[0]) for row in readme_table("| `reason` |")}
    assert in_readme == sent


@pytest.mark.parametrize(
    "message",
    [
        client_messages.Ping(),
        client_messages.Auth(token="t"),
        client_messages.StatusChange(status="on_break"),
        client_messages.SetTask(task_id=456),
        client_messages.SetTask(task_id=None),
    ],
    ids=lambda m: f"{m.type}",
)
def test_client_messages_match_their_schema(message: BaseModel) -> None:
    payload_validator("focusSession", message.model_dump()["type"]).validate(
        message.model_dump(mode="json")
    )


@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        ("status_change", {"type": "status_change", "status": "sleeping"}),
        ("set_task", {"type": "set_task", "task_id": 0}),
        ("auth", {"type": "auth"}),
        ("ping", {}),
    ],
)
def test_client_message_schemas_reject_what_the_server_refuses(
    kind: str, bad: dict[str, Any]
) -> None:
    assert list(payload_validator("focusSession", kind).iter_errors(bad))


async def test_served_document_is_the_generated_one(http: httpx.AsyncClient) -> None:
    r = await http.get("/asyncapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    served = r.json()
    host = http.base_url.netloc.decode()
    assert served == json.loads(json.dumps(document(host=host, protocol="ws")))


class Capture:
    """Real messages from a live server, each checked against its channel's schema."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}

    def check(self, channel_id: str, message: dict[str, Any]) -> dict[str, Any]:
        payload_validator(channel_id, message["type"]).validate(message)
        label = message["type"] + (f":{message['action']}" if "action" in message else "")
        self.seen.setdefault(channel_id, set()).add(label)
        return message

    async def recv(self, sock: Socket, channel_id: str) -> dict[str, Any]:
        return self.check(channel_id, await sock.recv())


async def test_captured_messages_match_the_schemas(live: Api, server: Server) -> None:
    capture = Capture()
    alice, bob = await live.user(), await live.user()
    ws = await alice.workspace("Contract", (bob, "member"))

    tasks = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token)
    await capture.recv(tasks, "workspaceTasks")  # connected
    task = await alice.task(ws, title="t", due_date="2025-04-01T12:00:00Z", assignee_id=bob.id)
    await alice.patch(f"/tasks/{task['id']}", json={"priority": "high"})
    await alice.post(f"/tasks/{task['id']}/complete")
    await alice.delete(f"/tasks/{task['id']}")
    await alice.post(f"/tasks/{task['id']}/restore")
    for _ in range(5):
        await capture.recv(tasks, "workspaceTasks")
    await tasks.send({"type": "ping"})
    await tasks.send("not json")
    await tasks.send({"type": "nope"})
    await tasks.send({"type": "auth", "token": alice.token})
    for _ in range(4):
        await capture.recv(tasks, "workspaceTasks")
    await tasks.close()

    ahead = await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token, since=999)
    await capture.recv(ahead, "workspaceTasks")
    resync = await capture.recv(ahead, "workspaceTasks")
    assert resync["type"] == "resync_required"
    assert resync["data"]["reason"] == "ahead_of_server"
    assert resync["data"]["reason"] in {r["reason"] for r in DOC["x-resync-reasons"]}
    await ahead.close()

    refused = await Socket.open(server.ws_url, "workspaces/999999/tasks", alice.token)
    code, before = await refused.closed_with()
    assert code == 4404 and [capture.check("workspaceTasks", m)["type"] for m in before] == [
        "error"
    ]

    inbox = await Socket.open(server.ws_url, "notifications", bob.token, since=0)
    await capture.recv(inbox, "notifications")  # connected
    first = await capture.recv(inbox, "notifications")  # replayed: task_assigned
    await bob.post(f"/notifications/{first['data']['id']}/read")
    while "notification_read" not in capture.seen["notifications"]:
        await capture.recv(inbox, "notifications")
    await inbox.close()

    r = await alice.post("/focus-sessions", json={"workspace_id": ws, "title": "Deep work"})
    assert r.status_code == 201, r.text
    focus = await Socket.open(server.ws_url, f"focus-sessions/{r.json()['id']}", alice.token)
    await capture.recv(focus, "focusSession")  # connected
    await focus.send(client_messages.StatusChange(status="away").model_dump())
    await focus.send(client_messages.SetTask(task_id=task["id"]).model_dump())
    while (
        not {"focus_update:status_change", "focus_update:task_changed"}
        <= capture.seen["focusSession"]
    ):
        await capture.recv(focus, "focusSession")
    other = await Socket.open(server.ws_url, f"focus-sessions/{r.json()['id']}", bob.token)
    while "focus_update:participant_joined" not in capture.seen["focusSession"]:
        await capture.recv(focus, "focusSession")
    await other.close()
    await focus.close()

    assert capture.seen["workspaceTasks"] >= {
        "connected",
        "task_update:created",
        "task_update:updated",
        "task_update:completed",
        "task_update:deleted",
        "task_update:restored",
        "pong",
        "auth_ok",
        "error",
        "resync_required",
    }
    assert {"connected", "notification", "notification_read"} <= capture.seen["notifications"]
    assert "focus_update:participant_joined" in capture.seen["focusSession"]


def test_notification_types_are_listed_with_the_reminder_and_overdue_ones() -> None:
    schemas = DOC["components"]["schemas"]
    [data] = [s for name, s in schemas.items() if name.startswith("NotificationData")]
    kinds = data["properties"]["type"]["enum"]
    assert {"task_reminder", "task_overdue"} <= set(kinds)
    assert set(kinds) == set(get_args(NotificationType))
