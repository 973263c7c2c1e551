"""The OpenAPI document declares the errors the API really returns, as problem+json.

tests/test_authorization_matrix.py also checks that every status it observes is
declared for its operation; this file checks the document as a whole.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

PUBLIC = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
}

# Errors each operation of users, workspaces and tasks can return (503: database down;
# 422 for every one: an unknown query parameter).
EXPECTED_ERRORS: dict[tuple[str, str], set[int]] = {
    ("post", "/api/v1/auth/register"): {409, 422, 503},
    ("post", "/api/v1/auth/login"): {401, 422, 429, 503},
    ("post", "/api/v1/auth/refresh"): {401, 422, 503},
    ("post", "/api/v1/auth/logout"): {422, 503},
    ("get", "/api/v1/users/me"): {401, 422, 503},
    ("patch", "/api/v1/users/me"): {401, 422, 503},
    ("get", "/api/v1/workspaces"): {401, 422, 503},
    ("post", "/api/v1/workspaces"): {401, 422, 503},
    ("get", "/api/v1/workspaces/{workspace_id}"): {401, 404, 422, 503},
    ("patch", "/api/v1/workspaces/{workspace_id}"): {401, 403, 404, 422, 503},
    ("delete", "/api/v1/workspaces/{workspace_id}"): {401, 403, 404, 422, 503},
    ("get", "/api/v1/workspaces/{workspace_id}/members"): {401, 404, 422, 503},
    ("post", "/api/v1/workspaces/{workspace_id}/members"): {401, 403, 404, 409, 422, 503},
    ("patch", "/api/v1/workspaces/{workspace_id}/members/{user_id}"): {
        401, 403, 404, 409, 422, 503,
    },
    ("delete", "/api/v1/workspaces/{workspace_id}/members/{user_id}"): {
        401, 403, 404, 409, 422, 503,
    },
    ("get", "/api/v1/workspaces/{workspace_id}/tasks"): {401, 404, 422, 503},
    ("post", "/api/v1/workspaces/{workspace_id}/tasks"): {401, 404, 422, 503},
    ("get", "/api/v1/tasks/{task_id}"): {401, 404, 422, 503},
    ("patch", "/api/v1/tasks/{task_id}"): {401, 404, 409, 412, 422, 503},
    ("delete", "/api/v1/tasks/{task_id}"): {401, 404, 412, 422, 503},
    ("post", "/api/v1/tasks/{task_id}/complete"): {401, 404, 409, 412, 422, 503},
    ("post", "/api/v1/tasks/{task_id}/restore"): {401, 404, 412, 422, 503},
}  # fmt: skip


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in item.items()
    ]


def errors(op: dict[str, Any]) -> set[int]:
    return {int(code) for code in op["responses"] if code[0] in "45"}


async def test_every_operation_of_users_workspaces_and_tasks_declares_its_errors(
    document: dict[str, Any],
) -> None:
    missing = {
        f"{method.upper()} {path}": sorted(expected - errors(document["paths"][path][method]))
        for (method, path), expected in EXPECTED_ERRORS.items()
        if path in document["paths"] and method in document["paths"][path]
    }
    absent = [key for key in EXPECTED_ERRORS if key[0] not in document["paths"].get(key[1], {})]
    assert not absent, f"operations missing from the document: {absent}"
    assert {k: v for k, v in missing.items() if v} == {}


async def test_every_api_operation_declares_401_422_and_404_where_they_can_happen(
    document: dict[str, Any],
) -> None:
    problems: list[str] = []
    for method, path, op in operations(document):
        declared = errors(op)
        name = f"{method.upper()} {path}"
        if (method, path) not in PUBLIC:
            if "security" not in op:
                problems.append(f"{name}: not marked as needing a bearer token")
            if 401 not in declared:
                problems.append(f"{name}: 401 not declared")
        if 422 not in declared:  # every operation rejects unknown query parameters
            problems.append(f"{name}: 422 not declared")
        has_path_ids = any(p["in"] == "path" for p in op.get("parameters", []))
        if has_path_ids and 404 not in declared:
            problems.append(f"{name}: 404 not declared")
    assert problems == []


async def test_every_declared_error_is_a_problem_json_body(document: dict[str, Any]) -> None:
    problem_ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    wrong = [
        f"{method.upper()} {path} {code}"
        for method, path, op in operations(document)
        for code, response in op["responses"].items()
        if code[0] in "45" and response.get("content") != {"application/problem+json": problem_ref}
    ]
    assert wrong == []
    schema = document["components"]["schemas"]["Problem"]
    assert set(schema["required"]) >= {"type", "title", "status", "detail"}
    assert "errors" in schema["properties"]


async def test_path_ids_of_users_workspaces_and_tasks_have_a_documented_range(
    document: dict[str, Any],
) -> None:
    for method, path in EXPECTED_ERRORS:
        for param in document["paths"][path][method].get("parameters", []):
            if param["in"] == "path" and param["name"].endswith("_id"):
                schema = param["schema"]
                if schema.get("type") == "integer":
                    assert schema.get("minimum") == 1, (method, path, param["name"])
                    assert schema.get("maximum") == 2**31 - 1, (method, path, param["name"])


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_their_assets_from_this_server(
    client: httpx.AsyncClient, page: str
) -> None:
    """Offline, a page whose scripts come from a CDN is blank (the browser test renders
    them: tests/tools/test_browser.py)."""
    r = await client.get(page)
    assert r.status_code == 200
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]*)"', r.text)
    assert assets and all(url.startswith("/") for url in assets), assets
    for url in assets:
        assert (await client.get(url)).status_code == 200, url
    assert "https://" not in r.text
