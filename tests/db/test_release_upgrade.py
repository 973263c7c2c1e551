"""A database made by the previous release (0.1.0, schema revision 0005) upgrades to this
one with its data intact and usable.

The dumps in `release_0_1_0/` were made by that release's own server, filled through its
REST API by `release_0_1_0/populate.py` (its docstring says how)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from onetask.app import create_app
from onetask.db.migrate import upgrade
from tests.conftest import DATABASE_URL, make_settings
from tests.db.databases import empty_database
from tests.db.test_schema import _differences

RELEASE = Path(__file__).parent / "release_0_1_0"


def _restore_sqlite(url: str) -> None:
    path = make_url(url).database
    assert path
    with sqlite3.connect(path) as conn:  # the dump's FTS5 table needs a new connection
        conn.executescript((RELEASE / "sqlite.sql").read_text(encoding="utf-8"))
    conn.close()


async def _restore_postgresql(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute((RELEASE / "postgresql.sql").read_text(encoding="utf-8"))
    finally:
        await conn.close()


async def _restore(url: str) -> None:
    if DATABASE_URL:
        await _restore_postgresql(url)
    else:
        await asyncio.to_thread(_restore_sqlite, url)


async def _login(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/login", data={"username": name, "password": f"{name} pw 1234"}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _get(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    r = await client.get(f"/api/v1{path}", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_database_of_the_previous_release_upgrades_with_its_data(tmp_path: Path) -> None:
    async with empty_database(tmp_path) as url:
        await _restore(url)
        await asyncio.to_thread(upgrade, url)
        app = create_app(make_settings(tmp_path, database_url=url))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            alice, bob = await _login(c, "alice"), await _login(c, "bob")
            spaces = {w["name"]: w["id"] for w in await _get(c, "/workspaces", alice)}
            assert set(spaces) == {"Launch", "Alice alone"}
            wid = spaces["Launch"]
            tasks = (await _get(c, f"/workspaces/{wid}/tasks", bob, sort="created_at"))["items"]
            assert [(t["title"], t["status"]) for t in tasks] == [
                ("Write proposal", "todo"),
                ("Review budget", "done"),
                ("Book venue", "todo"),
            ]
            bob_id = (await _get(c, "/users/me", bob))["id"]
            assert tasks[0]["assignee_id"] == bob_id
            assert tasks[0]["due_date"].startswith("2030-04-01T12:00:00")
            found = await _get(c, f"/workspaces/{wid}/tasks", bob, q="proposal")
            assert [t["title"] for t in found["items"]] == ["Write proposal"]
            assert (await _get(c, "/notifications/preferences", bob))["muted"] == ["task_completed"]
            assert [n["type"] for n in (await _get(c, "/notifications", bob))["items"]]
            sessions = (await _get(c, "/focus-sessions", alice))["items"]
            assert [s["title"] for s in sessions] == ["Morning sprint"]
            # It goes on from where the release left it: new rows, new events.
            r = await c.post(
                f"/api/v1/workspaces/{wid}/tasks", headers=alice, json={"title": "After upgrade"}
            )
            assert r.status_code == 201, r.text
            assert r.json()["id"] == 5
            r = await c.patch(
                f"/api/v1/tasks/{tasks[0]['id']}", headers=bob, json={"status": "done"}
            )
            assert r.status_code == 200, r.text
        database = app.state.database
        async with database.read_engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
        await database.dispose()
