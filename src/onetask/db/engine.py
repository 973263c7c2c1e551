"""Engines and session factories for SQLite (embedded) and PostgreSQL (scaled)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import PoolResetState, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from onetask.config import Settings


class Database:
    """Two session factories: `reads` and `writes`.

    On SQLite a write transaction starts with BEGIN IMMEDIATE so that concurrent writers
    queue on the busy timeout instead of failing when a read lock is upgraded. On
    PostgreSQL both factories share one engine.
    """

    def __init__(self, settings: Settings) -> None:
        url = settings.resolved_database_url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
            self.write_engine = _sqlite_engine(url, immediate=True)
        else:
            self.read_engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=5
            )
            self.write_engine = self.read_engine
        # Callbacks that lower layers look up by name after commit (e.g. the outbox
        # hands committed events to the relay); filled in by the application.
        self.listeners: dict[str, Any] = {}
        info = {"listeners": self.listeners}
        self.reads = async_sessionmaker(self.read_engine, expire_on_commit=False, info=info)
        self.writes = async_sessionmaker(self.write_engine, expire_on_commit=False, info=info)

    async def dispose(self) -> None:
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()

    def session(self, *, write: bool) -> AsyncSession:
        return (self.writes if write else self.reads)()


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    # Every WebSocket handshake reads a little (user, membership): a bigger pool than
    # the default keeps a reconnect storm from queueing on it.
    engine = create_async_engine(
        url,
        connect_args={"timeout": 30},
        pool_size=10,
        max_overflow=30,
        pool_timeout=30,
        pool_reset_on_return=None,  # see _on_reset
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions are off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
        # The pool's own reset rolls back even after a commit, one more trip to the
        # driver's thread for nothing: roll back only a connection still in a transaction.
        if state.asyncio_safe and record.driver_connection.in_transaction:
            dbapi_connection.rollback()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine
