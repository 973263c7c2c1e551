"""Input the database cannot hold is a 422 problem on every backend, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import Api


def cursor(sort: str, key: list[Any]) -> str:
    raw = json.dumps({"s": sort, "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Integers out of range name nothing: 404, in tests/test_path_ids.py.
@pytest.mark.parametrize("bad_id", ["abc", "1.5", "1e3"])
async def test_task_and_workspace_ids_that_are_not_integers_are_422(api: Api, bad_id: str) -> None:
    alice = await api.user()
    for method, path, body in [
        ("GET", f"/tasks/{bad_id}", None),
        ("PATCH", f"/tasks/{bad_id}", {"title": "x"}),
        ("DELETE", f"/tasks/{bad_id}", None),
        ("POST", f"/tasks/{bad_id}/complete", None),
        ("POST", f"/tasks/{bad_id}/restore", None),
        ("GET", f"/workspaces/{bad_id}/tasks", None),
        ("POST", f"/workspaces/{bad_id}/tasks", {"title": "x"}),
    ]:
        r = await alice.request(method, path, json=body)
        assert r.status_code == 422, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "fields",
    [
        {"assignee_id": 2147483648},
        {"assignee_id": 10**30},
        {"assignee_id": 0},
        {"title": "nul\u0000inside"},
        {"description": "nul\u0000inside"},
        {"due_date": "0001-01-01T00:00:00+05:00"},  # before year 1 in UTC
        {"due_date": "9999-12-31T23:00:00-05:00"},  # after year 9999 in UTC
        {"due_date": "2025-04-01T12:00:00"},  # no offset
        {"status": "blocked"},
        {"title": "x" * 256},
    ],
)
async def test_unstorable_task_fields_are_422_on_create_and_update(
    api: Api, fields: dict[str, Any]
) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws, title="Keep me")
    created = await alice.post(f"/workspaces/{ws}/tasks", json={"title": "t", **fields})
    assert created.status_code == 422, created.text
    assert created.json()["errors"]
    updated = await alice.patch(f"/tasks/{task['id']}", json=fields)
    assert updated.status_code == 422, updated.text
    after = (await alice.get(f"/tasks/{task['id']}")).json()
    assert after["title"] == "Keep me" and after["version"] == 1


async def test_extreme_but_valid_due_dates_round_trip_in_utc(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    late = await alice.task(ws, due_date="9999-12-31T18:00:00-05:00")
    assert late["due_date"] == "9999-12-31T23:00:00Z"
    early = await alice.task(ws, due_date="0001-01-01T05:00:00+05:00")
    assert early["due_date"] == "0001-01-01T00:00:00Z"
    page = await alice.get(f"/workspaces/{ws}/tasks", params={"sort": "due_date", "limit": 1})
    assert page.json()["items"][0]["id"] == early["id"]
    nxt = await alice.get(
        f"/workspaces/{ws}/tasks",
        params={"sort": "due_date", "limit": 1, "cursor": page.json()["next_cursor"]},
    )
    assert nxt.json()["items"][0]["id"] == late["id"]


@pytest.mark.parametrize(
    "params",
    [
        {"assignee_id": "2147483648"},
        {"assignee_id": "99999999999999999999"},
        {"due_before": "0001-01-01T00:00:00+05:00"},
        {"due_after": "2025-01-01T00:00:00"},
        {"q": "nul\u0000"},
        {"sort": "-created_at", "cursor": cursor("-created_at", ["0001-01-01T00:00:00+05:00", 1])},
        {"sort": "-created_at", "cursor": cursor("-created_at", ["2025-01-01T00:00:00Z", 10**25])},
        {"sort": "title", "cursor": cursor("title", ["nul\u0000", 1])},
        {"sort": "title", "cursor": cursor("-created_at", ["2025-01-01T00:00:00Z", 1])},
        {"sort": "priority", "cursor": cursor("priority", [True, 1])},
        {"cursor": "!!!"},
        {"limit": "0"},
        {"limit": "201"},
        {"sort": "owner"},
    ],
)
async def test_bad_list_parameters_are_422(api: Api, params: dict[str, str]) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    r = await alice.get(f"/workspaces/{ws}/tasks", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
