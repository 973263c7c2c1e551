#!/usr/bin/env python3
"""Text search on SQLite (the embedded mode): how long searches take, and how long
`/healthz` takes while they run, against the search it replaced, in the same run.

    bench/search.py [--tasks 2000] [--kb 20] [--searches 32]

Drives the whole ASGI application in this process: `--searches` concurrent
`GET /workspaces/{id}/tasks?q=buy oat milk` over `--tasks` tasks of `--kb` kB
(one in a hundred has the words), while one client asks `/healthz` again and again.
`/healthz` is asked 5 ms after each answer, and timed from when it was due.
The baseline is the route as it was: LIKE on the title and the description, run on
the event loop's thread (the inline read engine). Both see the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import ColumnElement

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from onetask.app import create_app  # noqa: E402
from onetask.config import Settings  # noqa: E402
from onetask.db.engine import Database  # noqa: E402
from onetask.db.models import Task  # noqa: E402
from onetask.db.types import utcnow  # noqa: E402
from onetask.tasks import search  # noqa: E402

QUERY = "buy oat milk"
PROBE_S = 0.005


def like(q: str, dialect: str) -> ColumnElement[bool]:
    """The search before the full-text index, as it was written."""
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return Task.title.ilike(pattern, escape="\\") | Task.description.ilike(pattern, escape="\\")


@contextmanager
def baseline(database: Database) -> Iterator[None]:
    """The route as it was: LIKE, on the request's own (inline) session."""
    matches, long_reads = search.matches, database.long_reads
    search.matches, database.long_reads = like, None
    try:
        yield
    finally:
        search.matches, database.long_reads = matches, long_reads


def description(rng: random.Random, vocabulary: list[str], size: int, planted: bool) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(vocabulary)
        words.append(word)
        length += len(word) + 1
    if planted:
        words.insert(len(words) // 2, QUERY)
    return " ".join(words)[:size]


async def fill(database: Database, ws: int, user_id: int, tasks: int, kb: int) -> None:
    rng = random.Random(1)
    vocabulary = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(5000)
    ]
    texts = [description(rng, vocabulary, kb * 1000, i == 0) for i in range(100)]
    for start in range(0, tasks, 200):
        async with database.session(write=True) as session:
            now = utcnow()
            session.add_all(
                Task(
                    workspace_id=ws, user_id=user_id, title=f"task {i}", description=texts[i % 100],
                    status="todo", priority="medium", created_at=now, updated_at=now, version=1,
                )
                for i in range(start, min(start + 200, tasks))
            )  # fmt: skip
            await session.commit()


async def measure(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], n: int
) -> dict[str, Any]:
    health: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        # In process, a request that waits for nothing runs without yielding: what a
        # stalled loop delays is its start. Each is due PROBE_S after the last answer.
        while not stop.is_set():
            due = time.perf_counter() + PROBE_S
            await asyncio.sleep(PROBE_S)
            r = await client.get("/healthz")
            assert r.status_code == 200
            health.append(time.perf_counter() - due)

    async def one() -> float:
        started = time.perf_counter()
        r = await client.get(path, params={"q": QUERY, "limit": 50}, headers=headers)
        assert r.status_code == 200 and r.json()["items"], r.text
        return time.perf_counter() - started

    prober = asyncio.create_task(probe())
    try:
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        latencies = await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - started
    finally:
        stop.set()
        await prober
    return {
        "search_p50_ms": statistics.median(latencies) * 1e3,
        "search_max_ms": max(latencies) * 1e3,
        "all_searches_s": wall,
        "healthz_p50_ms": statistics.median(health) * 1e3,
        "healthz_max_ms": max(health) * 1e3,
    }


async def main(tasks: int, kb: int, searches: int) -> None:
    with tempfile.TemporaryDirectory(prefix="onetask-search-") as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir)))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client,
        ):
            account = {"email": "bench@example.com", "username": "bench", "password": "password123"}
            user = (await client.post("/api/v1/auth/register", json=account)).json()
            login = await client.post("/api/v1/auth/login", data=account)
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            ws = (
                await client.post("/api/v1/workspaces", json={"name": "b"}, headers=headers)
            ).json()["id"]
            database: Database = app.state.database
            print(f"{tasks} tasks of {kb} kB, {searches} concurrent searches for {QUERY!r}")
            started = time.perf_counter()
            await fill(database, ws, user["id"], tasks, kb)
            print(f"filled (with the full-text index) in {time.perf_counter() - started:.1f} s")
            path = f"/api/v1/workspaces/{ws}/tasks"
            with baseline(database):
                before = await measure(client, path, headers, searches)
            after = await measure(client, path, headers, searches)
    print("| metric | baseline (LIKE, inline) | OneTask (FTS5, off the loop) |")
    print("|---|---|---|")
    for key in before:
        print(f"| {key} | {before[key]:.1f} | {after[key]:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--kb", type=int, default=20)
    parser.add_argument("--searches", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.kb, args.searches))
