"""An id in the path that no row can have (zero, negative, past the 32-bit INTEGER of
PostgreSQL) is a 404 like any other id that does not exist: on every operation of the
OpenAPI document, one id at a time, the others naming real resources of the caller."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Api, User

OUT_OF_RANGE = ["2147483648", "9223372036854775808", "0", "-1"]


async def _real_ids(alice: User) -> dict[str, str]:
    """A real value for every path parameter, all visible to `alice`."""
    bob = await alice.client.post(
        "/api/v1/auth/register",
        json={"email": f"b{alice.username}@example.com", "username": f"b{alice.username}",
              "password": "password123"},
    )  # fmt: skip
    assert bob.status_code == 201, bob.text
    ws = await alice.workspace()
    member = await alice.post(f"/workspaces/{ws}/members", json={"username": f"b{alice.username}"})
    task = await alice.task(ws, assignee_id=member.json()["user_id"])
    reminder = await alice.post(
        f"/tasks/{task['id']}/reminders", json={"at": "2099-01-01T00:00:00Z"}
    )
    await alice.post(f"/tasks/{task['id']}/complete")  # notifies alice, who owns the task
    notification = (await alice.get("/notifications")).json()["items"][0]["id"]
    focus = await alice.post("/focus-sessions", json={"workspace_id": ws, "title": "F"})
    token = await alice.post("/tokens", json={"name": "t", "scopes": ["read"]})
    hooks = f"/workspaces/{ws}/webhooks"
    hook = (await alice.post(hooks, json={"url": "http://127.0.0.1:9/h", "event_types": ["*"]}))
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["id"]
    assert (await alice.post(f"{hooks}/{hook_id}/ping")).status_code == 202
    delivery = (await alice.get(f"{hooks}/{hook_id}/deliveries")).json()["items"][0]["id"]
    return {
        "webhook_id": str(hook_id),
        "delivery_id": str(delivery),
        "token_id": str(token.json()["id"]),
        "workspace_id": str(ws),
        "task_id": str(task["id"]),
        "user_id": str(member.json()["user_id"]),
        "notification_id": str(notification),
        "session_id": focus.json()["id"],
        "reminder_id": str(reminder.json()["id"]),
    }


def _operations(document: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (method, path.removeprefix("/api/v1"), re.findall(r"{(\w+)}", path))
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/") and "{" in path
        for method in item
    ]


@pytest.mark.parametrize("bad", OUT_OF_RANGE)
async def test_every_path_id_out_of_range_is_404(api: Api, bad: str) -> None:
    alice = await api.user()
    real = await _real_ids(alice)
    document = (await api.client.get("/openapi.json")).json()
    operations = _operations(document)
    assert {name for _, _, names in operations for name in names} == real.keys()
    wrong = []
    for method, template, names in operations:
        for name in names:
            values = {**real, name: f"focus-{bad}" if name == "session_id" else bad}
            path = template.format(**values)
            r = await alice.request(method.upper(), path, json={})
            if r.status_code != 404 or r.headers["content-type"] != "application/problem+json":
                wrong.append(f"{method.upper()} {path}: {r.status_code} {r.text[:120]}")
    assert wrong == []
