"""The text-search index: built by the upgrade from the tasks already there, and used by
the searches on PostgreSQL (its expression must be the queries' own)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from onetask.app import create_app
from onetask.auth.passwords import hash_password
from onetask.db.engine import Database
from onetask.db.migrate import upgrade
from onetask.db.models import Task, User, Workspace
from onetask.tasks import search
from tests.conftest import DATABASE_URL, make_settings
from tests.db.databases import empty_database

BEFORE_SEARCH_INDEX = "0003"


async def add_tasks_at_previous_revision(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    async with async_sessionmaker(engine)() as session:
        owner = User(
            email="old@example.com",
            username="old",
            password_hash=await hash_password("password123"),
        )
        session.add(owner)
        await session.flush()
        workspace = Workspace(name="Old", owner_id=owner.id)
        session.add(workspace)
        await session.flush()
        # In SQL: the model has columns (`joined_seq`) that later revisions add.
        await session.execute(
            text(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) "
                "VALUES (:w, :u, 'owner', CURRENT_TIMESTAMP)"
            ),
            {"w": workspace.id, "u": owner.id},
        )
        for title, description in [
            ("Buy oat milk", None),
            ("Groceries", "bread, eggs and MILK: buy on Friday"),
            ("Pay rent", "before the 5th"),
        ]:
            # In SQL too: later revisions add task columns (`overdue_at`, `recurrence_*`).
            await session.execute(
                text(
                    "INSERT INTO tasks (workspace_id, user_id, title, description, status, "
                    "priority, created_at, updated_at, version) VALUES (:w, :u, :t, :d, "
                    "'todo', 'medium', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
                ),
                {"w": workspace.id, "u": owner.id, "t": title, "d": description},
            )
        await session.commit()
    await engine.dispose()


async def test_tasks_from_before_the_index_are_found_by_word_after_the_upgrade(
    tmp_path: Path,
) -> None:
    async with empty_database(tmp_path) as url:
        await asyncio.to_thread(upgrade, url, BEFORE_SEARCH_INDEX)
        await add_tasks_at_previous_revision(url)
        app = create_app(make_settings(tmp_path, database_url=url))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),  # upgrades to the newest revision
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            login = await client.post(
                "/api/v1/auth/login", data={"username": "old", "password": "password123"}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            workspaces = await client.get("/api/v1/workspaces", headers=headers)
            ws = workspaces.json()[0]["id"]
            r = await client.get(
                f"/api/v1/workspaces/{ws}/tasks", params={"q": "milk buy"}, headers=headers
            )
    assert r.status_code == 200, r.text
    assert sorted(t["title"] for t in r.json()["items"]) == ["Buy oat milk", "Groceries"]


async def test_searches_use_the_index_on_postgresql(tmp_path: Path) -> None:
    if not DATABASE_URL:
        return  # on SQLite a search reads the FTS5 table: there is nothing else it could use
    database = Database(make_settings(tmp_path))
    query = select(Task.id).where(search.matches("buy mil", "postgresql"))
    sql = str(
        query.compile(dialect=database.read_engine.dialect, compile_kwargs={"literal_binds": True})
    )
    try:
        async with database.session(write=False) as session:
            conn = await session.connection()
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in await conn.exec_driver_sql("EXPLAIN " + sql))
    finally:
        await database.dispose()
    assert "ix_tasks_fts" in plan, plan
