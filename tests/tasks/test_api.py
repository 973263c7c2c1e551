from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


async def test_main_flow_create_filter_update_complete_delete_restore(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("Launch", (bob, "member"))
    task = await alice.task(
        ws,
        title="Write proposal",
        priority="high",
        due_date="2025-04-01T14:00:00+02:00",
        assignee_id=bob.id,
    )
    assert task["due_date"] == "2025-04-01T12:00:00Z"
    assert task["status"] == "todo" and task["version"] == 1
    await alice.task(ws, title="Other", priority="low")

    r = await bob.get(f"/workspaces/{ws}/tasks", params={"priority": "high"})
    assert [t["title"] for t in r.json()["items"]] == ["Write proposal"]

    r = await bob.patch(
        f"/tasks/{task['id']}", json={"title": "Write the proposal"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    stale = await alice.patch(
        f"/tasks/{task['id']}", json={"title": "x"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"

    done = await alice.post(f"/tasks/{task['id']}/complete")
    assert done.json()["status"] == "done" and done.json()["completed_at"] is not None
    reopened = await alice.patch(f"/tasks/{task['id']}", json={"status": "in_progress"})
    assert reopened.json()["completed_at"] is None

    assert (await alice.delete(f"/tasks/{task['id']}")).status_code == 204
    listed = await alice.get(f"/workspaces/{ws}/tasks")
    assert task["id"] not in [t["id"] for t in listed.json()["items"]]
    with_deleted = await alice.get(f"/workspaces/{ws}/tasks", params={"include_deleted": True})
    assert task["id"] in [t["id"] for t in with_deleted.json()["items"]]
    restored = await alice.post(f"/tasks/{task['id']}/restore")
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None


async def test_cursor_pagination_visits_every_task_once_in_every_sort(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    priorities = ["low", "medium", "high", "urgent"]
    for i in range(13):
        due = f"2025-05-{1 + i % 4:02d}T00:00:00Z" if i % 3 else None
        await alice.task(ws, title=f"t{i % 5}", priority=priorities[i % 4], due_date=due)
    for sort in [
        "created_at",
        "-created_at",
        "due_date",
        "-due_date",
        "priority",
        "-priority",
        "title",
        "-title",
        "updated_at",
    ]:
        seen: list[int] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 4, **({"cursor": cursor} if cursor else {})}
            page = (await alice.get(f"/workspaces/{ws}/tasks", params=params)).json()
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 13 and len(set(seen)) == 13, sort


async def test_bad_input_is_a_problem_not_a_500(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    r = await alice.post(f"/workspaces/{ws}/tasks", json={"title": "", "priority": "asap"})
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == 422 and {tuple(e["loc"])[-1] for e in body["errors"]} >= {
        "title",
        "priority",
    }
    naive = await alice.post(
        f"/workspaces/{ws}/tasks", json={"title": "x", "due_date": "2025-04-01T12:00:00"}
    )
    assert naive.status_code == 422
    bad_cursor = await alice.get(f"/workspaces/{ws}/tasks", params={"cursor": "nope"})
    assert bad_cursor.status_code == 422
    outsider = await api.user()
    r = await alice.post(f"/workspaces/{ws}/tasks", json={"title": "x", "assignee_id": outsider.id})
    assert r.status_code == 422


def if_match_routes(task_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Every route that honours If-Match, in an order where each one succeeds."""
    return [
        ("PATCH", f"/tasks/{task_id}", {"json": {"title": "Renamed"}}),
        ("POST", f"/tasks/{task_id}/complete", {}),
        ("DELETE", f"/tasks/{task_id}", {}),
        ("POST", f"/tasks/{task_id}/restore", {}),
    ]


@pytest.mark.parametrize("form", ["{v}", '"{v}"', 'W/"{v}"', '"77", {v}'])
async def test_if_match_names_a_version_bare_quoted_weak_or_in_a_list_on_every_route(
    api: Api, form: str
) -> None:
    alice = await api.user()
    task = await alice.task(await alice.workspace())
    version = task["version"]
    for method, path, kwargs in if_match_routes(task["id"]):
        stale = await alice.request(method, path, headers={"If-Match": "99"}, **kwargs)
        assert stale.status_code == 412, (method, path, stale.text)
        assert f"at version {version}" in stale.json()["detail"]
        assert "If-Match named 99" in stale.json()["detail"]

        tag = form.format(v=version)
        r = await alice.request(method, path, headers={"If-Match": tag}, **kwargs)
        assert r.status_code in (200, 204), (method, path, tag, r.text)
        version += 1
        if r.status_code == 200:
            assert r.headers["etag"] == f'"{version}"'


async def test_if_match_star_matches_any_version_on_every_route(api: Api) -> None:
    alice = await api.user()
    task = await alice.task(await alice.workspace())
    for method, path, kwargs in if_match_routes(task["id"]):
        r = await alice.request(method, path, headers={"If-Match": "*"}, **kwargs)
        assert r.status_code in (200, 204), (method, path, r.text)
