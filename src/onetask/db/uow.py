"""The unit of work: one session per request, committed once, hooks around the commit.

Lower layers register work that must happen inside the transaction just before it
commits (`before_commit`) or only once it has committed (`after_commit`); the database
layer runs them without knowing what they are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

BeforeCommit = Callable[[AsyncSession], Awaitable[None]]
AfterCommit = Callable[[], None]


def before_commit(session: AsyncSession, key: str, hook: BeforeCommit) -> None:
    session.info.setdefault("before_commit", {}).setdefault(key, hook)


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    session.info.setdefault("after_commit", []).append(hook)


def defer_commits(session: AsyncSession) -> None:
    """Make `commit` only note that the work is done: whoever deferred it commits later
    with `commit_deferred`, after adding to the same transaction (see idempotency)."""
    session.info["commit_deferred"] = True


async def commit_deferred(session: AsyncSession) -> None:
    session.info.pop("commit_deferred", None)
    await commit(session)


async def commit(session: AsyncSession) -> None:
    if session.info.get("commit_deferred"):
        return
    hooks: dict[str, BeforeCommit] = session.info.pop("before_commit", {})
    for hook in hooks.values():
        await hook(session)
    await session.commit()
    for done in session.info.pop("after_commit", []):
        done()


async def rollback(session: AsyncSession) -> None:
    session.info.pop("before_commit", None)
    session.info.pop("after_commit", None)
    await session.rollback()


async def release(session: AsyncSession) -> None:
    """End a transaction that has only read, and give its connection back, before slow
    work that needs no database (hashing a password).

    On SQLite a write session holds the database's write lock from its first statement
    (BEGIN IMMEDIATE), and this process's writers share one connection: every task change
    would wait out the work. Loaded objects stay usable (sessions do not expire them on
    commit); the next statement starts a new transaction."""
    if session.info.get("commit_deferred"):
        raise RuntimeError("release() would commit a deferred transaction")
    if session.new or session.dirty or session.deleted or session.info.get("before_commit"):
        raise RuntimeError("release() would commit pending changes")
    await session.commit()
