"""Text search over tasks (`q`): every word matches, in any order, in the title or the
description, whatever the case, as a word or the start of one; whatever a user types is
plain text; the index follows every change; and a search never holds the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from onetask.app import create_app
from onetask.db.engine import Database
from tests.conftest import Api, User, make_settings, unique


async def titles(user: User, ws: int, **params: Any) -> list[str]:
    r = await user.get(f"/workspaces/{ws}/tasks", params=params)
    assert r.status_code == 200, r.text
    return sorted(t["title"] for t in r.json()["items"])


async def test_every_word_matches_in_any_order_in_title_or_description_in_any_case(
    api: Api,
) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    await alice.task(ws, title="Buy oat milk")
    await alice.task(ws, title="Groceries", description="MILK, bread and eggs; buy on Friday")
    await alice.task(ws, title="Milkshake recipe", description="Blend the ice")
    await alice.task(ws, title="Buy bread")
    await alice.task(ws, title="Visit the École normale")

    assert await titles(alice, ws, q="milk buy") == ["Buy oat milk", "Groceries"]
    assert await titles(alice, ws, q="BUY   Milk") == ["Buy oat milk", "Groceries"]
    assert await titles(alice, ws, q="friday eggs") == ["Groceries"]
    # A word matches the start of a word: "mil" finds milk, and milkshake.
    assert await titles(alice, ws, q="mil") == ["Buy oat milk", "Groceries", "Milkshake recipe"]
    assert await titles(alice, ws, q="bu mil") == ["Buy oat milk", "Groceries"]
    assert await titles(alice, ws, q="oat-milk") == ["Buy oat milk"]
    assert await titles(alice, ws, q="milk cheese") == []
    assert await titles(alice, ws, q="ÉCOLE") == await titles(alice, ws, q="école") != []
    assert await titles(alice, ws, q="ecole") == []  # accents are kept
    # Only the start: "ilk" is inside words, not at their start.
    assert await titles(alice, ws, q="ilk") == []


async def test_search_combines_with_filters_sorting_and_pagination(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    for i in range(7):
        await alice.task(ws, title=f"report {i}", priority="high" if i % 2 else "low")
    await alice.task(ws, title="unrelated", priority="high")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "report", "priority": "high", "sort": "-title", "limit": 2}
        r = await alice.get(f"/workspaces/{ws}/tasks", params={**params, "cursor": cursor or ""})
        assert r.status_code == 200, r.text
        seen += [t["title"] for t in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["report 5", "report 3", "report 1"]


# What a user may type, and whether it finds "Buy oat milk": True, False, or None for a
# 422 (no letter or digit to search for). Syntax is never syntax: NEAR, OR, "title" are
# words like any other.
SYNTAX: list[tuple[str, bool | None]] = [
    ('"', None),
    ('"milk', True),
    ('"milk"', True),
    ("milk*", True),
    ("*", None),
    ("-milk", True),
    ("milk -oat", True),
    ("NEAR(milk oat)", False),
    ("milk NEAR oat", False),
    ("milk OR nothing", False),
    ("NOT", False),
    ("AND", False),
    ("(milk", True),
    ("milk)", True),
    ("(((", None),
    ("title:milk", False),
    ("{title description}: milk", False),
    ("milk:*", True),
    ("milk & oat", True),
    ("milk | oat", True),
    ("!milk", True),
    ("'milk'", True),
    ("o'milk", True),  # "o" starts "oat"
    ("\\", None),
    ("milk\\", True),
    ("milk^", True),
    ("%_", None),
    ("<->", None),
    ("buy <-> milk", True),
]


async def test_search_syntax_in_user_input_is_plain_text_never_a_500(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    await alice.task(ws, title="Buy oat milk")
    for q, finds in SYNTAX:
        r = await alice.get(f"/workspaces/{ws}/tasks", params={"q": q})
        if finds is None:
            assert r.status_code == 422, (q, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert "letter or digit" in r.text
            continue
        assert r.status_code == 200, (q, r.text)
        found = [t["title"] for t in r.json()["items"]]
        assert found == (["Buy oat milk"] if finds else []), q


async def test_search_follows_changes_deletion_and_restore(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    task = await alice.task(ws, title="Call the plumber", description="about the sink")
    path = f"/tasks/{task['id']}"
    assert await titles(alice, ws, q="plumber sink") == ["Call the plumber"]

    await alice.patch(path, json={"title": "Call the electrician"})
    assert await titles(alice, ws, q="plumber") == []
    assert await titles(alice, ws, q="electrician sink") == ["Call the electrician"]
    await alice.patch(path, json={"description": "about the lights"})
    assert await titles(alice, ws, q="sink") == []
    assert await titles(alice, ws, q="lights") == ["Call the electrician"]
    await alice.patch(path, json={"description": None})
    assert await titles(alice, ws, q="lights") == []
    await alice.patch(path, json={"status": "done", "description": "lights and sink"})
    assert await titles(alice, ws, q="sink lights") == ["Call the electrician"]

    await alice.delete(path)
    assert await titles(alice, ws, q="electrician") == []
    assert await titles(alice, ws, q="electrician", include_deleted=True) == [
        "Call the electrician"
    ]
    await alice.post(f"{path}/restore")
    assert await titles(alice, ws, q="electrician") == ["Call the electrician"]


async def test_deleting_a_workspace_takes_its_tasks_out_of_the_search_index(api: Api) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    word = unique("gone")
    await alice.task(ws, title="Short-lived", description=f"{word} words")
    database: Database = api.client._transport.app.state.database  # type: ignore[attr-defined]
    if not database.is_sqlite:
        return  # PostgreSQL's index is maintained by PostgreSQL itself
    indexed = text("SELECT count(*) FROM tasks_fts WHERE tasks_fts MATCH :word")
    async with database.session(write=False) as session:
        assert await session.scalar(indexed, {"word": word}) == 1
    assert (await alice.delete(f"/workspaces/{ws}")).status_code == 204
    async with database.session(write=False) as session:
        # No entry left behind: the index holds only rows of the tasks table.
        assert await session.scalar(indexed, {"word": word}) == 0


class StalledSearch:
    """A search held inside the database until released: the test stands in for a search
    that takes long there (SQLite: the statement's trace hook waits in the thread that
    runs it; PostgreSQL: a lock on the tasks table that the search must wait for)."""

    HOLD_S = 3.0

    def __init__(self) -> None:
        self.started = threading.Event()
        self.released = threading.Event()
        self.timed_out = False
        self.thread: int | None = None

    def trace(self, statement: str) -> None:
        if "stallword" in statement and not self.started.is_set():
            self.thread = threading.get_ident()
            self.started.set()
            # On the loop's thread this wait holds the loop, nobody can release it, and
            # it ends by timing out.
            self.timed_out = not self.released.wait(self.HOLD_S)


@asynccontextmanager
async def stalled_search(database: Database) -> AsyncIterator[StalledSearch]:
    stall = StalledSearch()
    if database.is_sqlite:
        engines = [e for e in vars(database).values() if isinstance(e, AsyncEngine)]

        def hook(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            await_only(dbapi_connection.driver_connection.set_trace_callback(stall.trace))

        for engine in engines:
            event.listen(engine.sync_engine, "checkout", hook)
        try:
            yield stall
        finally:
            stall.released.set()
        return
    async with database.write_engine.connect() as locker:
        await locker.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))
        try:
            yield stall
        finally:
            await locker.rollback()


async def search_waits_on_lock(database: Database) -> bool:
    async with database.read_engine.connect() as conn:
        waiting = await conn.scalar(
            text("SELECT count(*) FROM pg_locks WHERE relation = 'tasks'::regclass AND NOT granted")
        )
    return bool(waiting)


async def wait_until_started(database: Database, stall: StalledSearch) -> None:
    if database.is_sqlite:
        assert await asyncio.to_thread(stall.started.wait, StalledSearch.HOLD_S * 2)
        return
    for _ in range(500):  # bounded: the search reaches the lock within a few seconds
        if await search_waits_on_lock(database):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the search never reached the database")


async def test_a_search_held_in_the_database_does_not_hold_the_process(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        alice = await Api(client).user()
        ws = await alice.workspace()
        await alice.task(ws, title="Find me", description="stallword " * 100)
        database: Database = app.state.database
        async with stalled_search(database) as stall:
            search = asyncio.create_task(
                alice.get(f"/workspaces/{ws}/tasks", params={"q": "stallword"})
            )
            await wait_until_started(database, stall)
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert not search.done()  # /healthz answered while the search was in the database
            stall.released.set()
            if database.is_sqlite:
                assert not stall.timed_out and stall.thread != threading.get_ident()
        r = await search
    assert r.status_code == 200 and [t["title"] for t in r.json()["items"]] == ["Find me"]
