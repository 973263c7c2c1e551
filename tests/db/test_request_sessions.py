"""A request's session is closed after its answer is decided; closing must not undo that."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db import deps
from onetask.db.engine import Database
from tests.conftest import Api


class _DeadOnClose:
    """Sessions whose close fails as on a connection the database terminated (a restart
    during the request: the ROLLBACK that closing issues cannot be sent)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.failed = 0

    def session(self, *, write: bool) -> AsyncSession:
        session = self.database.session(write=write)

        async def close() -> None:
            self.failed += 1
            raise DBAPIError(
                "ROLLBACK", None, Exception("connection was closed in the middle of operation")
            )

        session.close = close  # type: ignore[method-assign]
        return session


async def test_a_session_that_fails_to_close_leaves_the_answer_and_the_change(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await api.user()
    task = await alice.task(await alice.workspace())
    database: Database = api.client._transport.app.state.database  # type: ignore[attr-defined]
    dead = _DeadOnClose(database)
    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, "onetask"):
        patch.setattr(deps, "get_database", lambda _conn: dead)
        changed = await alice.patch(f"/tasks/{task['id']}", json={"title": "kept"})
        read = await alice.get(f"/tasks/{task['id']}")
    assert dead.failed == 2
    assert changed.status_code == 200, changed.text
    assert read.status_code == 200 and read.json()["title"] == "kept"
    assert "closing a request's database session failed: DBAPIError" in caplog.text
    # The connections were invalidated and replaced: the database still serves requests.
    for _ in range(3):
        r = await alice.patch(f"/tasks/{task['id']}", json={"description": "after"})
        assert r.status_code == 200, r.text
