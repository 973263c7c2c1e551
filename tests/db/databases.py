"""A database of the test's own on the suite's back end, for tests of the migrations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import DATABASE_URL


@asynccontextmanager
async def empty_database(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own on the suite's back end, dropped afterwards."""
    if not DATABASE_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"onetask_migration_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(DATABASE_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
