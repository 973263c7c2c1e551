"""Requests the API cannot read are 422 problem+json that say what to send: unknown query
parameters, bodies in the wrong format, malformed JSON, bodies that are not UTF-8."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Api, User

# Every GET list endpoint: (path template, a parameter it accepts with a valid value).
LISTS = {
    "tasks": ("/workspaces/{ws}/tasks", {"priority": "high"}),
    "notifications": ("/notifications", {"unread_only": "true"}),
    "focus sessions": ("/focus-sessions", {"status": "running"}),
    "workspaces": ("/workspaces", None),
    "members": ("/workspaces/{ws}/members", None),
}


def assert_invalid(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == 422 and body["errors"], body
    return body


@pytest.fixture
async def member(api: Api) -> tuple[User, int]:
    alice = await api.user()
    ws = await alice.workspace()
    await alice.task(ws, title="High", priority="high")
    return alice, ws


@pytest.mark.parametrize("name", LISTS)
async def test_an_unknown_query_parameter_on_a_list_is_422_naming_the_accepted_ones(
    member: tuple[User, int], name: str
) -> None:
    alice, ws = member
    template, accepted = LISTS[name]
    path = template.format(ws=ws)

    body = assert_invalid(await alice.get(path, params={"prority": "high"}))

    assert "prority" in body["detail"]
    assert body["errors"][0]["loc"] == ["query", "prority"]
    if accepted is None:
        assert "takes no query parameters" in body["detail"]
    else:
        assert all(param in body["detail"] for param in accepted)
        assert (await alice.get(path, params=accepted)).status_code == 200
    assert (await alice.get(path)).status_code == 200


async def test_a_percent_encoded_unknown_name_is_named_decoded(member: tuple[User, int]) -> None:
    alice, ws = member
    body = assert_invalid(await alice.get(f"/workspaces/{ws}/tasks?%70rority=high"))
    assert body["errors"][0]["loc"] == ["query", "prority"]


async def test_every_operation_rejects_unknown_query_parameters(
    client: httpx.AsyncClient, api: Api
) -> None:
    """The rule is the route class's, not a list per endpoint: every REST operation of the
    document applies it (and declares the 422)."""
    alice = await api.user()
    document = (await client.get("/openapi.json")).json()
    checked = 0
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        concrete = path.replace("{session_id}", "focus-1")
        for param in ("workspace_id", "task_id", "user_id", "notification_id"):
            concrete = concrete.replace("{" + param + "}", "1")
        for method, op in item.items():
            r = await alice.request(method.upper(), concrete[len("/api/v1") :] + "?bogus=1")
            body = assert_invalid(r)
            assert body["errors"][0]["loc"] == ["query", "bogus"], (method, path)
            assert "422" in op["responses"], (method, path)
            checked += 1
    assert checked >= 40


async def test_a_form_on_a_json_operation_says_to_send_json(member: tuple[User, int]) -> None:
    alice, ws = member
    r = await alice.post(f"/workspaces/{ws}/tasks", data={"title": "From a form"})
    body = assert_invalid(r)
    assert "JSON with content-type application/json" in body["detail"]
    assert "application/x-www-form-urlencoded" in body["detail"]
    assert body["errors"] == [{"loc": ["body"], "msg": body["detail"], "type": "content_type"}]

    no_type = await alice.post(f"/workspaces/{ws}/tasks", content=b'{"title": "x"}')
    assert "no content-type" in assert_invalid(no_type)["detail"]


async def test_json_on_the_login_form_says_to_send_a_form(api: Api) -> None:
    alice = await api.user()
    r = await api.client.post(
        "/api/v1/auth/login", json={"username": alice.username, "password": "password123"}
    )
    body = assert_invalid(r)
    assert "username=…&password=…" in body["detail"]
    assert "content-type application/x-www-form-urlencoded" in body["detail"]
    assert "(this request had content-type application/json)" in body["detail"]


async def test_malformed_json_names_its_line_and_column(member: tuple[User, int]) -> None:
    alice, ws = member
    r = await alice.post(
        f"/workspaces/{ws}/tasks",
        content=b'{\n  "title": "x",,\n}',
        headers={"content-type": "application/json"},
    )
    body = assert_invalid(r)
    assert body["detail"].startswith("Malformed JSON at line 2 column 16: Expecting property")
    assert body["errors"][0]["loc"] == ["body"]
    assert body["errors"][0]["type"] == "json_invalid"


async def test_a_body_that_is_not_utf8_is_a_documented_422(
    member: tuple[User, int], client: httpx.AsyncClient
) -> None:
    alice, ws = member
    r = await alice.post(
        f"/workspaces/{ws}/tasks",
        content=b'{"title": "caf\xe9"}',
        headers={"content-type": "application/json"},
    )
    body = assert_invalid(r)
    assert "not valid UTF-8 (byte 0xe9 at offset 14)" in body["detail"]
    operation = (await client.get("/openapi.json")).json()["paths"][
        "/api/v1/workspaces/{workspace_id}/tasks"
    ]["post"]
    assert "422" in operation["responses"]


async def test_json_nested_too_deeply_is_422(member: tuple[User, int]) -> None:
    alice, ws = member
    r = await alice.post(
        f"/workspaces/{ws}/tasks",
        content=b"[" * 100_000,
        headers={"content-type": "application/json"},
    )
    assert "nested too deeply" in assert_invalid(r)["detail"]


async def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(
    member: tuple[User, int],
) -> None:
    alice, ws = member
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        r = await alice.post(
            f"/workspaces/{ws}/tasks",
            content=b'{"title": "typed"}',
            headers={"content-type": content_type},
        )
        assert r.status_code == 201, r.text
