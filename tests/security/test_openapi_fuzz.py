"""Schemathesis over the OpenAPI document, against a real server: every operation, with
generated valid and invalid input, signed in as a real user. No answer may be a 5xx, and
every answer must match the schema the document declares for its status."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.servers import Server

# Per operation and generation mode. Small, so the whole run stays around a minute;
# derandomized, so a failure reproduces.
EXAMPLES = 25


@pytest.fixture(scope="module")
def bearer(server: Server) -> dict[str, str]:
    """A registered user with a workspace, a task and a focus session, so that some
    generated ids hit real, visible resources."""
    name = f"fuzz{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as client:
        body = {"email": f"{name}@example.com", "username": name, "password": "password123"}
        assert client.post("/auth/register", json=body).status_code == 201
        login = client.post("/auth/login", data={"username": name, "password": "password123"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        ws = client.post("/workspaces", json={"name": "Fuzz"}, headers=headers).json()["id"]
        client.post(f"/workspaces/{ws}/tasks", json={"title": "T"}, headers=headers)
        client.post("/focus-sessions", json={"workspace_id": ws, "title": "F"}, headers=headers)
    return headers


@pytest.fixture(scope="module")
def openapi_schema(server: Server) -> Any:
    loaded = schemathesis.openapi.from_url(server.url + "/openapi.json")
    loaded.config.base_url = server.url
    return loaded


def test_no_operation_answers_5xx_or_off_schema(
    openapi_schema: Any, bearer: dict[str, str]
) -> None:
    failures: list[str] = []
    operations = 0
    for result in openapi_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first
            )
            def check(case: Any) -> None:
                case.call_and_validate(
                    headers=bearer,
                    checks=[not_a_server_error, response_schema_conformance],
                    timeout=30,
                )

            try:
                check()
            except Unsatisfiable:
                pass  # nothing to make invalid (an operation without inputs)
            except (AssertionError, Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert operations >= 40  # every operation of the document was exercised
    assert not failures, "\n\n".join(failures)
