"""Shared fixtures.

The suite runs on SQLite and the in-process broker by default. Set
ONETASK_TEST_DATABASE_URL (postgresql+asyncpg://…) and ONETASK_TEST_BROKER_URL
(redis://…) to run the same tests on PostgreSQL and Redis; with CI=true those
services must answer or the run fails (never skipped).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from onetask.app import create_app
from onetask.config import Settings

pytest_plugins = ("tests.e2e.fixtures",)

DATABASE_URL = os.environ.get("ONETASK_TEST_DATABASE_URL")
BROKER_URL = os.environ.get("ONETASK_TEST_BROKER_URL", "memory://")
SECRET = "test-secret-" + "x" * 40
# One broker namespace per test run, so runs sharing a Redis never hear each other.
NAMESPACE = f"onetask-test-{uuid.uuid4().hex[:8]}"


SCALED = bool(DATABASE_URL) and BROKER_URL.startswith("redis")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Multi-process tests need PostgreSQL + Redis; on SQLite they are deselected (the
    embedded mode is one process by design) and CI runs them in its second pass."""
    if SCALED:
        return
    scaled = [item for item in items if item.get_closest_marker("scaled")]
    if scaled:
        config.hook.pytest_deselected(items=scaled)
        items[:] = [item for item in items if not item.get_closest_marker("scaled")]


def backend_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """ONETASK_* variables for an app or server process on the suite's backends."""
    env = {
        "ONETASK_DATA_DIR": str(data_dir),
        "ONETASK_BROKER_URL": BROKER_URL,
        "ONETASK_BROKER_NAMESPACE": NAMESPACE,
        "ONETASK_SECRET_KEY": SECRET,
        "ONETASK_HEAD_CHECK_INTERVAL_S": "0.5",
        "ONETASK_RELAY_SWEEP_INTERVAL_S": "0.5",
        # Every test user logs in and writes from 127.0.0.1: the per-address and per-user
        # budgets are tested on servers of their own.
        "ONETASK_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
        "ONETASK_LOGINS_PER_ADDRESS": "100000",
        "ONETASK_LOGINS_PER_ACCOUNT": "100000",
        "ONETASK_WRITES_PER_MINUTE": "1000000",
        # Webhooks: every app and server of a run must agree (on PostgreSQL they share
        # the deliveries); short times, so retries and auto-disable happen within a test.
        "ONETASK_WEBHOOK_TIMEOUT_S": "2",
        "ONETASK_WEBHOOK_LEASE_S": "3",
        "ONETASK_WEBHOOK_RETRY_BASE_S": "0.1",
        "ONETASK_WEBHOOK_RETRY_MAX_DELAY_S": "0.5",
        "ONETASK_WEBHOOK_RETRY_FOR_S": "10",
        "ONETASK_WEBHOOK_SWEEP_INTERVAL_S": "0.5",
        "ONETASK_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",  # no test sends beyond this machine
    }
    if DATABASE_URL:
        env["ONETASK_DATABASE_URL"] = DATABASE_URL
    env.update(extra)
    return env


def make_settings(data_dir: Path, **extra: Any) -> Settings:
    env = backend_env(data_dir)
    values: dict[str, Any] = {k.removeprefix("ONETASK_").lower(): v for k, v in env.items()}
    values.update(extra)
    return Settings(**values)


# The `data` fields of the integration guide's notification message, as the guide lists them.
GUIDE_NOTIFICATION_FIELDS = frozenset(
    {"id", "title", "content", "created_at", "read", "related_entity_type", "related_entity_id"}
)


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onetask")


@pytest.fixture(scope="session")
async def app(data_dir: Path) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(data_dir))
    async with application.router.lifespan_context(application):
        yield application


class Api:
    """A thin client over the REST API with helpers for the main flow."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def user(self, name: str | None = None, password: str = "password123") -> User:
        username = name or unique()
        r = await self.client.post(
            "/api/v1/auth/register",
            json={"email": f"{username}@example.com", "username": username, "password": password},
        )
        assert r.status_code == 201, r.text
        r = await self.client.post(
            "/api/v1/auth/login", data={"username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        return User(
            self.client,
            r.json()["access_token"],
            r.json()["refresh_token"],
            username,
            int(
                (
                    await self.client.get(
                        "/api/v1/users/me",
                        headers={"Authorization": f"Bearer {r.json()['access_token']}"},
                    )
                ).json()["id"]
            ),
        )


class User:
    def __init__(
        self, client: httpx.AsyncClient, token: str, refresh: str, username: str, id: int
    ) -> None:
        self.client, self.token, self.refresh, self.username, self.id = (
            client,
            token,
            refresh,
            username,
            id,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def workspace(self, name: str = "Team", *members: tuple[User, str]) -> int:
        r = await self.post("/workspaces", json={"name": name})
        assert r.status_code == 201, r.text
        workspace_id = int(r.json()["id"])
        for member, role in members:
            r = await self.post(
                f"/workspaces/{workspace_id}/members",
                json={"username": member.username, "role": role},
            )
            assert r.status_code == 201, r.text
        return workspace_id

    async def task(self, workspace_id: int, **fields: Any) -> dict[str, Any]:
        r = await self.post(f"/workspaces/{workspace_id}/tasks", json={"title": "A task", **fields})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
