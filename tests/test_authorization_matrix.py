# ruff: noqa: E501  (the table below is easier to read one row per line)
"""Who may call what: every REST endpoint of users, workspaces and tasks, called by each
kind of caller, must answer with exactly the status in this table.

Each case builds its own workspace, members and tasks, so no case depends on another.
The people are reused across cases (registering is deliberately slow, argon2), but all
that a case changes lives in its own fresh workspace; nothing in a person's standing
carries from one case to the next.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Api, User

ROLES = ("anonymous", "outsider", "member", "admin", "owner")

# fmt: off
MATRIX: list[tuple[str, str, str, dict[str, Any] | None, tuple[int, int, int, int, int]]] = [
    # what                       method    path                                 body                                          anon  outsider member admin owner
    ("read my profile",          "GET",    "/users/me",                         None,                                         (401, 200, 200, 200, 200)),
    ("update my profile",        "PATCH",  "/users/me",                         {"full_name": "Someone"},                     (401, 200, 200, 200, 200)),
    ("list my workspaces",       "GET",    "/workspaces",                       None,                                         (401, 200, 200, 200, 200)),
    ("create a workspace",       "POST",   "/workspaces",                       {"name": "Another"},                          (401, 201, 201, 201, 201)),
    ("read the workspace",       "GET",    "/workspaces/{ws}",                  None,                                         (401, 404, 200, 200, 200)),
    ("rename the workspace",     "PATCH",  "/workspaces/{ws}",                  {"name": "Renamed"},                          (401, 404, 403, 200, 200)),
    ("delete the workspace",     "DELETE", "/workspaces/{ws}",                  None,                                         (401, 404, 403, 403, 204)),
    ("list members",             "GET",    "/workspaces/{ws}/members",          None,                                         (401, 404, 200, 200, 200)),
    ("add a member",             "POST",   "/workspaces/{ws}/members",          {"username": "{newcomer}"},                   (401, 404, 403, 201, 201)),
    ("add an admin",             "POST",   "/workspaces/{ws}/members",          {"username": "{newcomer}", "role": "admin"},  (401, 404, 403, 201, 201)),
    ("add an owner",             "POST",   "/workspaces/{ws}/members",          {"username": "{newcomer}", "role": "owner"},  (401, 404, 403, 403, 201)),
    ("add an existing member",   "POST",   "/workspaces/{ws}/members",          {"username": "{target_name}"},                (401, 404, 403, 409, 409)),
    ("make a member admin",      "PATCH",  "/workspaces/{ws}/members/{target}", {"role": "admin"},                            (401, 404, 403, 200, 200)),
    ("make a member owner",      "PATCH",  "/workspaces/{ws}/members/{target}", {"role": "owner"},                            (401, 404, 403, 403, 200)),
    ("demote the admin",         "PATCH",  "/workspaces/{ws}/members/{admin}",  {"role": "member"},                           (401, 404, 403, 200, 200)),
    ("demote the only owner",    "PATCH",  "/workspaces/{ws}/members/{owner}",  {"role": "member"},                           (401, 404, 403, 403, 409)),
    ("remove a member",          "DELETE", "/workspaces/{ws}/members/{target}", None,                                         (401, 404, 403, 204, 204)),
    ("remove the admin",         "DELETE", "/workspaces/{ws}/members/{admin}",  None,                                         (401, 404, 403, 204, 204)),
    ("remove the only owner",    "DELETE", "/workspaces/{ws}/members/{owner}",  None,                                         (401, 404, 403, 403, 409)),
    ("leave the workspace",      "DELETE", "/workspaces/{ws}/members/{me}",     None,                                         (401, 404, 204, 204, 409)),
    ("list tasks",               "GET",    "/workspaces/{ws}/tasks",            None,                                         (401, 404, 200, 200, 200)),
    ("create a task",            "POST",   "/workspaces/{ws}/tasks",            {"title": "New"},                             (401, 404, 201, 201, 201)),
    ("read a task",              "GET",    "/tasks/{task}",                     None,                                         (401, 404, 200, 200, 200)),
    ("update a task",            "PATCH",  "/tasks/{task}",                     {"title": "Edited"},                          (401, 404, 200, 200, 200)),
    ("delete a task",            "DELETE", "/tasks/{task}",                     None,                                         (401, 404, 204, 204, 204)),
    ("complete a task",          "POST",   "/tasks/{task}/complete",            None,                                         (401, 404, 200, 200, 200)),
    ("restore a deleted task",   "POST",   "/tasks/{deleted_task}/restore",     None,                                         (401, 404, 200, 200, 200)),
]
# fmt: on

ROUTE_PARAMS = {
    "ws": "{workspace_id}",
    "task": "{task_id}",
    "deleted_task": "{task_id}",
    "target": "{user_id}",
    "admin": "{user_id}",
    "owner": "{user_id}",
    "me": "{user_id}",
}

CASES = [
    pytest.param(method, path, body, role, expected[i], id=f"{what} as {role}")
    for what, method, path, body, expected in MATRIX
    for i, role in enumerate(ROLES)
]


@dataclass
class People:
    owner: User
    admin: User
    member: User
    target: User  # a plain member whom the others act upon
    newcomer: User  # registered, in no workspace
    outsider: User


@pytest.fixture(scope="module")
async def matrix_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="module")
async def people(matrix_client: httpx.AsyncClient) -> People:
    api = Api(matrix_client)
    return People(*[await api.user() for _ in range(6)])


@pytest.fixture(scope="module")
async def openapi(matrix_client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await matrix_client.get("/openapi.json")).json()
    return document


async def fresh_state(p: People) -> dict[str, int | str]:
    """A new workspace: owner, admin, member and target in it; a live and a deleted task."""
    ws = await p.owner.workspace(
        "Matrix", (p.admin, "admin"), (p.member, "member"), (p.target, "member")
    )
    task = await p.owner.task(ws, title="Live", assignee_id=p.target.id)
    deleted = await p.owner.task(ws, title="Deleted")
    assert (await p.owner.delete(f"/tasks/{deleted['id']}")).status_code == 204
    return {
        "ws": ws,
        "task": task["id"],
        "deleted_task": deleted["id"],
        "target": p.target.id,
        "admin": p.admin.id,
        "owner": p.owner.id,
        "newcomer": p.newcomer.username,
        "target_name": p.target.username,
    }


def fill(template: Any, values: dict[str, int | str]) -> Any:
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", str(value))
        return template
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    return template


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), CASES)
async def test_authorization_matrix(
    people: People,
    matrix_client: httpx.AsyncClient,
    openapi: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
    expected: int,
) -> None:
    values = await fresh_state(people)
    caller: User | None = None if role == "anonymous" else getattr(people, role)
    values["me"] = (caller or people.member).id
    url = "/api/v1" + fill(path, values)
    headers = caller.headers if caller else {}

    r = await matrix_client.request(method, url, json=fill(body, values), headers=headers)

    assert r.status_code == expected, r.text
    if expected >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == expected
    if expected == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    route = "/api/v1" + fill(path, ROUTE_PARAMS)
    documented = openapi["paths"][route][method.lower()]["responses"]
    assert str(expected) in documented, f"{method} {route} does not document {expected}"
