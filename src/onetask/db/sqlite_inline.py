"""SQLite on the event loop's own thread, for the embedded mode.

aiosqlite runs every call (open a cursor, execute, fetch, close) on a thread of its own
and hands the result back to the loop: two thread switches per call, four calls per
statement. On the 2-core machine of `bench/` one such hop costs about 110 µs of CPU,
while the statements OneTask runs (point reads and writes on indexed keys in a WAL
database) take 5-50 µs. A task change was about 40 hops.

This module gives SQLAlchemy's aiosqlite dialect a connection with the same awaitable
interface whose calls run `sqlite3` directly. What makes that safe on the loop is that
it never waits for a lock there: connections are opened with no busy timeout, so a
statement that finds the database locked fails at once with SQLITE_BUSY; it is then
retried after an `asyncio.sleep`, with backoff, until the connection's busy wait
(`ONETASK_SQLITE_BUSY_TIMEOUT_S`) has passed, which is what SQLite's own busy handler
does, without holding the loop. Writers in this process queue on the write engine's one
connection (see `onetask.db.engine`), so busy waits only happen behind another process
(`onetask db upgrade`, a backup, a test's blocker). A session also bounds its whole
wait, counted from its creation, its turn for the write connection included
(`limit_lock_wait`): a request queued behind one that is waiting out the lock does not
start a wait of its own after it.

Statements that can touch many rows (retention pruning) work in bounded batches, a text
search runs on aiosqlite's threads (`Database.long_reads`), and the WAL is copied into
the database file by a thread of its own (`WalCheckpointer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

_FIRST_BACKOFF_S = 0.0005
_MAX_BACKOFF_S = 0.02
# SQLITE_BUSY, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_TIMEOUT: the statement did nothing and
# can run again. SQLITE_BUSY_SNAPSHOT (517) is left out: only a new transaction helps.
_RETRYABLE = frozenset({5, 261, 773})

T = TypeVar("T")
log = logging.getLogger("onetask")

# `time.monotonic()` by which the current task's statements stop waiting for a lock.
_lock_deadline: ContextVar[float] = ContextVar("sqlite_lock_deadline", default=math.inf)


def limit_lock_wait(seconds: float) -> None:
    """The current task (a request, say) waits for locks for `seconds` from now, in all."""
    _lock_deadline.set(time.monotonic() + seconds)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in _RETRYABLE


async def _run(wait_s: float, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` now; if the database is locked, again later, without blocking, for
    `wait_s` at most (less if the task's `limit_lock_wait` ends sooner)."""
    try:
        return call(*args)
    except sqlite3.OperationalError as exc:
        if not _is_busy(exc):
            raise
        busy = exc
    deadline = min(time.monotonic() + wait_s, _lock_deadline.get())
    backoff = _FIRST_BACKOFF_S
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(backoff, left))
        backoff = min(backoff * 2, _MAX_BACKOFF_S)
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            busy = exc
    raise busy


class InlineCursor:
    """aiosqlite's `Cursor` interface over a `sqlite3.Cursor`."""

    __slots__ = ("_cursor", "_wait_s")

    def __init__(self, cursor: sqlite3.Cursor, wait_s: float) -> None:
        self._cursor = cursor
        self._wait_s = wait_s

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        await _run(self._wait_s, self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        rows = list(parameters)  # a retry must see the same rows
        await _run(self._wait_s, self._cursor.executemany, sql, rows)
        return self

    # Rows come from a statement that has started, inside a read snapshot: these never
    # meet a lock in WAL mode, and a failed fetch is not safe to repeat.
    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size or self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """aiosqlite's `Connection` interface over a `sqlite3.Connection`."""

    def __init__(self, conn: sqlite3.Connection, busy_wait_s: float) -> None:
        self._connection: sqlite3.Connection | None = conn
        self.busy_wait_s = busy_wait_s

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self.busy_wait_s)

    async def commit(self) -> None:
        await _run(self.busy_wait_s, self._conn.commit)

    async def rollback(self) -> None:
        await _run(self.busy_wait_s, self._conn.rollback)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
        self._conn.set_trace_callback(callback)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def connect(path: Path, busy_wait_s: float) -> InlineConnection:
    """A connection in autocommit mode (we issue BEGIN ourselves) that never waits on a
    lock by itself: `timeout=0` is `busy_timeout=0`; `_run` waits for up to `busy_wait_s`
    instead. It is only used from the loop's thread; `check_same_thread=False` lets the
    pool close it from wherever it is dropped."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    return InlineConnection(conn, busy_wait_s)


async def can_write(path: Path, wait_s: float) -> bool:
    """Whether this process could take the database's write lock within `wait_s`: False
    while another process holds it (`BEGIN IMMEDIATE` on the file), for `/readyz`."""
    conn = connect(path, wait_s)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("BEGIN IMMEDIATE")
        await conn.rollback()
        return True
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            return False
        raise
    finally:
        conn.stop()


CHECKPOINT_EVERY_S = 1.0
TRUNCATE_WAIT_MS = 100
OnCheckpoint = Callable[[float, bool], None]


class WalCheckpointer:
    """Copies the WAL into the database file, once a second, on a thread of its own.

    SQLite's automatic checkpoint runs in whichever connection commits past 1,000 WAL
    pages: here the write connection, on the event loop, every one to two seconds under
    load, for 4-7 ms in which no socket is written and no request goes on (the p99 of
    commit-to-delivery at 100 changes/s, median of 11 interleaved runs of `bench/`: 8.7 ms
    with it, 6.2 ms with this instead). The app's connections turn it off
    (`wal_autocheckpoint=0`, see `onetask.db.engine`) and this runs PASSIVE checkpoints
    instead, which never wait for or block a reader or a writer; `sqlite3` lets go of the
    GIL while it copies. The WAL is reused from its start by the first commit after a
    checkpoint that copied all of it, as before, and cut back to `wal_max_bytes` then
    (`journal_size_limit`, set by `onetask.db.engine`).

    Readers that never all finish at once keep the WAL from being reused, and it grows
    (to 492 MB once). Past `wal_max_bytes` a TRUNCATE checkpoint follows the PASSIVE
    one: it waits up to `TRUNCATE_WAIT_MS` for the readers (new writers wait meanwhile,
    retrying without holding the loop), copies the rest and empties the file; if the
    readers outlast it, it is tried again a second later."""

    def __init__(self, path: Path, wal_max_bytes: int, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.wal_max_bytes = wal_max_bytes
        self.every_s = every_s
        self.checkpoints = 0
        self.truncations = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_checkpoint: OnCheckpoint | None = None

    def start(self, on_checkpoint: OnCheckpoint | None = None) -> None:
        """`on_checkpoint(seconds, failed)` is called on the loop after each one."""
        self._on_checkpoint = on_checkpoint
        self._task = asyncio.create_task(self._run(), name="sqlite-wal-checkpointer")

    async def stop(self) -> None:
        """Let the checkpoint under way finish (the thread cannot be interrupted), then
        close the checkpointer's connection."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        failing = False
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.every_s)
                started = time.perf_counter()
                try:
                    await asyncio.to_thread(self._checkpoint, conn)
                except sqlite3.Error as exc:  # a full disk, say: tried again a second later
                    if not failing:
                        log.warning("WAL checkpoints are failing: %s", exc)
                    failing = True
                else:
                    if failing:
                        log.info("WAL checkpoints work again")
                    failing = False
                if self._on_checkpoint is not None:
                    self._on_checkpoint(time.perf_counter() - started, failing)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if self._wal_size() > self.wal_max_bytes:
            self._truncate(conn)
        self.checkpoints += 1

    def _wal_size(self) -> int:
        try:
            return os.stat(self.wal).st_size
        except FileNotFoundError:
            return 0

    def _truncate(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute("PRAGMA busy_timeout=0")
        if not busy:
            self.truncations += 1
