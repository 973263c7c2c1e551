"""Engines and session factories for SQLite (embedded) and PostgreSQL (scaled)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import PoolResetState, event, make_url, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from onetask import files
from onetask.config import ConfigError, Settings
from onetask.db import sqlite_inline

PING_IF_IDLE_S = 2.0
READY_LOCK_WAIT_S = 1.0


class Database:
    """Two session factories: `reads` and `writes`, and on SQLite a third, `long_reads`.

    On SQLite a write transaction starts with BEGIN IMMEDIATE, so that it holds the write
    lock from its first statement and never fails upgrading a read lock; writers of this
    process queue for the write engine's one connection. Both run their statements on
    the event loop's thread (`sqlite_inline`), so a statement that may work for long (a
    text search) goes to `long_reads`, whose connections run on threads of their own.
    On PostgreSQL every statement is awaited, both factories share one engine and there
    is no `long_reads`.
    """

    def __init__(self, settings: Settings) -> None:
        url = settings.resolved_database_url
        self.is_sqlite = url.startswith("sqlite")
        self.sqlite_path = prepare_sqlite(settings)
        self.busy_timeout_s = settings.sqlite_busy_timeout_s
        if self.sqlite_path is not None:
            self.read_engine = _sqlite_engine(settings, immediate=False)
            self.write_engine = _sqlite_engine(settings, immediate=True)
            self.long_read_engine: AsyncEngine | None = _sqlite_threaded_engine(
                url, settings.sqlite_busy_timeout_s
            )
        else:
            self.read_engine = _postgres_engine(url, settings.database_pool_size)
            self.write_engine = self.read_engine
            self.long_read_engine = None
        # Callbacks that lower layers look up by name after commit (e.g. the outbox
        # hands committed events to the relay); filled in by the application.
        self.listeners: dict[str, Any] = {}
        info = {"listeners": self.listeners}
        self.reads = async_sessionmaker(self.read_engine, expire_on_commit=False, info=info)
        self.writes = async_sessionmaker(self.write_engine, expire_on_commit=False, info=info)
        self.long_reads = (
            async_sessionmaker(self.long_read_engine, expire_on_commit=False, info=info)
            if self.long_read_engine is not None
            else None
        )
        self.checkpointer = (
            sqlite_inline.WalCheckpointer(self.sqlite_path, settings.sqlite_wal_max_bytes)
            if self.sqlite_path is not None
            else None
        )

    def start(self, on_checkpoint: sqlite_inline.OnCheckpoint | None = None) -> None:
        """Start copying SQLite's WAL into the database file in the background; until
        this runs, the WAL only grows (the last connection to close copies it)."""
        if self.checkpointer is not None:
            self.checkpointer.start(on_checkpoint)

    async def dispose(self) -> None:
        if self.checkpointer is not None:
            await self.checkpointer.stop()
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
        if self.long_read_engine is not None:
            await self.long_read_engine.dispose()

    def session(self, *, write: bool) -> AsyncSession:
        """A session whose statements wait for another process's lock (SQLite) until
        `ONETASK_SQLITE_BUSY_TIMEOUT_S` after this call, in all."""
        if self.sqlite_path is not None:
            sqlite_inline.limit_lock_wait(self.busy_timeout_s)
        return (self.writes if write else self.reads)()

    async def unready_reason(self) -> str | None:
        """Why requests would fail now (for `/readyz`), or None.

        On SQLite reads never wait for the write lock (WAL): a file that another process
        holds write-locked (`BEGIN IMMEDIATE`) answers a SELECT but fails every write, so
        the write lock is tried too, for up to `READY_LOCK_WAIT_S`."""
        try:
            async with self.session(write=False) as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return "unreachable"
        wait_s = min(READY_LOCK_WAIT_S, self.busy_timeout_s)
        if self.sqlite_path is not None and not await sqlite_inline.can_write(
            self.sqlite_path, wait_s
        ):
            return "write-locked by another process"
        return None


def _postgres_engine(url: str, pool_size: int) -> AsyncEngine:
    """A pooled engine that keeps every connection it opens, and pings one before use
    only if it has been idle.

    No overflow: the pool's overflow connections are closed as soon as they are given
    back, so every burst past the pool's size opened them again, each one about 4 ms of
    CPU on the event loop here (and a backend started by PostgreSQL), just when the
    process was busiest. A request beyond `pool_size` waits for a connection instead,
    and gets 503 after `pool_timeout`.

    `pool_pre_ping` would add a round trip to every request (about 1 ms and a third of a
    millisecond of CPU per request here); a connection that was used less than
    `PING_IF_IDLE_S` ago is known to be alive. One that died while busy (the server
    restarted under load) fails its statement, which invalidates the pool, and the
    request gets 503 (see `onetask.errors`)."""
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=5)

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE_S:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the pool replaces it and tries again
            raise DisconnectionError("connection lost while idle") from exc

    return engine


def prepare_sqlite(settings: Settings) -> Path | None:
    """The SQLite file's path (None on PostgreSQL), after making the data directory 0700
    and the database file 0600 (`onetask.files`), before SQLite or a migration opens it."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        return None
    path = _sqlite_path(url)
    files.ensure_private_dir(settings.data_dir)
    if path.parent.is_dir():  # else SQLite says it cannot open the file, as before
        files.create_private(path)
        for companion in ("-wal", "-shm", "-journal"):
            files.tighten(Path(f"{path}{companion}"))
    return path


def _sqlite_path(url: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ConfigError(
            f"ONETASK_DATABASE_URL={url!r}: SQLite needs a file path "
            "(sqlite+aiosqlite:////absolute/path/onetask.db)."
        )
    return Path(path)


def _sqlite_engine(settings: Settings, *, immediate: bool) -> AsyncEngine:
    """An engine whose statements run on the event loop's thread (`sqlite_inline`).

    The write engine has one connection: writers in this process queue for it on the
    loop, in order, instead of polling SQLite's write lock; the read engine has as many
    as concurrent requests need (WAL readers never wait for the writer). Waiting for the
    connection and for another process's lock are both bounded by
    `ONETASK_SQLITE_BUSY_TIMEOUT_S`, then the request gets 503."""
    url = settings.resolved_database_url
    database = _sqlite_path(url)
    busy_wait_s = settings.sqlite_busy_timeout_s

    async def connect() -> sqlite_inline.InlineConnection:
        return sqlite_inline.connect(database, busy_wait_s)

    engine = create_async_engine(
        url,
        async_creator=connect,
        pool_size=1 if immediate else 10,
        max_overflow=0 if immediate else 30,
        pool_timeout=busy_wait_s,
        pool_reset_on_return=None,  # see _on_reset
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # off the loop: `WalCheckpointer`
        # A WAL that a burst grew is cut back to this when it is next reused.
        cursor.execute(f"PRAGMA journal_size_limit={settings.sqlite_wal_max_bytes}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
        # The pool's own reset rolls back even after a commit: roll back only a
        # connection still in a transaction.
        if state.asyncio_safe and record.driver_connection.in_transaction:
            dbapi_connection.rollback()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # On the DBAPI cursor: `exec_driver_sql` would take the statement through
        # SQLAlchemy's execution machinery, 2 % of a task change. Errors are wrapped as
        # there (a write lock held past the busy wait is an OperationalError).
        dbapi = conn.dialect.loaded_dbapi
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(begin)
        except dbapi.Error as exc:
            raise DBAPIError.instance(begin, None, exc, dbapi.Error) from exc
        finally:
            cursor.close()

    return engine


LONG_READ_CONNECTIONS = 4


def _sqlite_threaded_engine(url: str, busy_wait_s: float) -> AsyncEngine:
    """An engine for reads that may take long (a text search): aiosqlite runs each of its
    connections on a thread of its own, where `sqlite3` lets go of the GIL while the
    statement works, and the loop goes on meanwhile. A few connections: searches beyond
    them wait for one without holding anything (and get 503 after the pool's timeout);
    a lock is waited for by SQLite's busy handler, on that thread."""
    engine = create_async_engine(
        url,
        pool_size=LONG_READ_CONNECTIONS,
        max_overflow=0,
        pool_timeout=busy_wait_s,
        connect_args={"timeout": busy_wait_s},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")  # it reads and nothing else
        cursor.close()

    return engine
