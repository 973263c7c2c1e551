"""Operating the embedded mode's SQLite file: another process's write lock, the WAL's
size, and who may read the files. Each test runs a real server in the embedded mode,
whatever the suite's backends; `/readyz` on the suite's backends is checked too."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import User
from tests.e2e.servers import Server, run_cli


def embedded(tmp_path: Path, **env: str) -> Server:
    """A server on SQLite in `tmp_path/data` (its log outside it, in `tmp_path/logs`)."""
    env = {"ONETASK_DATA_DIR": str(tmp_path / "data"), "ONETASK_BROKER_URL": "memory://", **env}
    server = Server(tmp_path / "logs", **env)
    server.env.pop("ONETASK_DATABASE_URL", None)
    return server


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def database_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "onetask.db"


def size(path: Path) -> int:
    return path.stat().st_size


def shrinks_to(path: Path, limit: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while size(path) > limit:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} stayed at {size(path)} bytes")
        time.sleep(0.1)
    return True


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def titles(user: User, workspace_id: int) -> set[str]:
    r = await user.get(f"/workspaces/{workspace_id}/tasks", params={"limit": 100})
    assert r.status_code == 200, r.text
    return {task["title"] for task in r.json()["items"]}


async def test_readyz_is_ready_on_the_suites_backends(http: httpx.AsyncClient) -> None:
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "database": "ok", "broker": "ok"}


async def test_an_external_write_lock_gives_prompt_503s_and_readyz_names_the_database(
    tmp_path: Path,
) -> None:
    """Another process holds the file's write lock (a backup, a script's `BEGIN
    IMMEDIATE`): writes wait ONETASK_SQLITE_BUSY_TIMEOUT_S (1 s here), not 30 s, and get
    503 with Retry-After; reads go on; `/readyz` says the database is not ready. Once
    the lock is gone everything works and nothing that was accepted is missing."""
    with running(embedded(tmp_path, ONETASK_SQLITE_BUSY_TIMEOUT_S="1")) as server:
        async with server.api() as api:
            alice = await api.user()
            ws = await alice.workspace()
            await alice.task(ws, title="before")
            other = sqlite3.connect(database_file(tmp_path), isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                # The bound: the client gives up after 5 s (it was 30 s before the 503).
                async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
                    as_alice = User(client, alice.token, alice.refresh, alice.username, alice.id)
                    alone = await as_alice.post(f"/workspaces/{ws}/tasks", json={"title": "no"})
                    burst = await asyncio.gather(
                        *(
                            as_alice.post(f"/workspaces/{ws}/tasks", json={"title": f"no {i}"})
                            for i in range(4)
                        )
                    )
                    listed = await titles(as_alice, ws)
                    ready = await client.get("/readyz")
                    health = await client.get("/healthz")
            finally:
                other.execute("ROLLBACK")
                other.close()
            for r in (alone, *burst):
                assert r.status_code == 503, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) >= 1
            # The burst's writers that queued behind the one waiting for the lock: "busy".
            assert "locked by another process" in alone.json()["detail"]
            assert listed == {"before"}
            assert ready.status_code == 503, ready.text
            assert ready.headers["content-type"] == "application/problem+json"
            assert "database" in ready.json()["detail"]
            assert health.status_code == 200

            assert (await api.client.get("/readyz")).status_code == 200
            await alice.task(ws, title="after")
            assert await titles(alice, ws) == {"before", "after"}
        # The background rounds that met the lock said so in one line each, no traceback.
        log = server.log.read_text()
        assert "relay maintenance failed: the database is locked by another process" in log
        assert "Traceback" not in log


async def test_the_wal_is_cut_back_once_it_has_passed_its_bound(tmp_path: Path) -> None:
    """A reader that keeps its snapshot stops the WAL from being reused, so writes grow it
    past ONETASK_SQLITE_WAL_MAX_MB (1 MiB here); once the reader is gone the next
    checkpoints cut it back, instead of leaving a file as large as it ever was."""
    limit = 2**20
    with running(embedded(tmp_path, ONETASK_SQLITE_WAL_MAX_MB="1")) as server:
        wal = Path(f"{database_file(tmp_path)}-wal")
        async with server.api() as api:
            owner = await api.user()
            writers = [await api.user() for _ in range(3)]
            ws = await owner.workspace("Big", *((w, "member") for w in writers))
            reader = sqlite3.connect(database_file(tmp_path), isolation_level=None)
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM tasks").fetchall()  # holds its snapshot
            try:
                for i in range(20):
                    for n, writer in enumerate(writers):
                        await writer.task(ws, title=f"t{i}.{n}", description=f"{i:05d}" * 3900)
                grown = size(wal)
            finally:
                reader.execute("ROLLBACK")
                reader.close()
            assert grown > 2 * limit
            assert await asyncio.to_thread(shrinks_to, wal, limit, 15)
            await owner.task(ws, title="after")
            assert len(await titles(owner, ws)) == 61


def test_a_fresh_data_dir_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """Under umask 022 (files 0644 by default) the data directory the server creates is
    0700, and the database, its WAL and shared-memory files and the secret are 0600."""
    data = tmp_path / "data"
    server = embedded(tmp_path)
    del server.env["ONETASK_SECRET_KEY"]  # the embedded mode generates and keeps one
    previous = os.umask(0o022)
    try:
        with running(server):
            asyncio.run(_register(server))
            found = {p.name: mode(p) for p in data.iterdir()}
    finally:
        os.umask(previous)
    assert mode(data) == 0o700
    assert {"onetask.db", "onetask.db-wal", "onetask.db-shm", "secret_key"} <= set(found)
    assert found == dict.fromkeys(found, 0o600)


def test_db_upgrade_creates_a_private_data_dir_too(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    previous = os.umask(0o022)
    try:
        done = run_cli(data, "db", "upgrade")
    finally:
        os.umask(previous)
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700
    found = {p.name: mode(p) for p in data.iterdir()}
    assert "onetask.db" in found and found == dict.fromkeys(found, 0o600)


def test_files_left_readable_are_made_private_and_a_shared_directory_is_reported(
    tmp_path: Path,
) -> None:
    """A data directory the user made (0755) is theirs: left as it is, with a warning.
    The server's own files in it that an earlier version left 0644 are made 0600."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    old_db = sqlite3.connect(data / "onetask.db")
    old_db.execute("PRAGMA journal_mode=WAL")
    old_db.close()
    (data / "onetask.db").chmod(0o644)
    (data / "secret_key").write_text("k" * 64)
    (data / "secret_key").chmod(0o644)
    server = embedded(tmp_path)
    del server.env["ONETASK_SECRET_KEY"]
    with running(server):
        asyncio.run(_register(server))
        found = {p.name: mode(p) for p in data.iterdir()}
    assert mode(data) == 0o755
    assert found == dict.fromkeys(found, 0o600)
    log = server.log.read_text()
    assert f"the data directory {data} can be read by other users" in log
    assert f"{data / 'onetask.db'} was readable by other users; it is now 0600" in log


async def _register(server: Server) -> None:
    """A write, so that the WAL and shared-memory files exist."""
    async with server.api() as api:
        await api.user()
