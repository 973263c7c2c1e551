"""The schema: what the migrations build is what the models describe, and the row every
change updates (its channel's head) is updated in place on PostgreSQL."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from onetask.db.engine import Database
from onetask.db.migrate import described_by_models, upgrade_async
from onetask.db.models import Base
from tests.conftest import make_settings


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """The suite's back end, brought to the newest revision by the migrations alone."""
    settings = make_settings(tmp_path)
    await upgrade_async(settings.resolved_database_url)
    db = Database(settings)
    yield db
    await db.dispose()


def _differences(connection: Connection) -> list[Any]:
    with warnings.catch_warnings():
        # SQLite cannot reflect the expression index on lower(username); alembic says so.
        warnings.simplefilter("ignore")
        opts = {"compare_type": True, "include_name": described_by_models}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, Base.metadata))


async def test_the_migrations_build_the_schema_the_models_describe(database: Database) -> None:
    """A model changed without a migration (or the reverse) shows up here, on the suite's
    back end, not in a deployment's `onetask db upgrade`."""
    async with database.read_engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


@pytest.mark.scaled  # PostgreSQL only
async def test_a_channel_head_is_updated_in_place(database: Database) -> None:
    """Every change advances its channels' heads (`events.outbox`). No index covers the
    columns it sets, so PostgreSQL updates the row in place (HOT): no new index entries
    per change, and no bloat of the table between vacuums (with an index on
    `updated_at`, a head updated 20,000 times took 1,064 kB and 312 bytes of WAL per
    update; without, 56 kB and 179 bytes)."""
    channel = f"test:{uuid.uuid4().hex}:hot"
    async with database.session(write=True) as session:
        await session.execute(
            text("INSERT INTO channel_heads VALUES (:channel, 0, now())"), {"channel": channel}
        )
        await session.commit()
    async with database.session(write=True) as session:
        for _ in range(3):  # what the outbox's upsert sets, a new time each
            await session.execute(
                text(
                    "UPDATE channel_heads SET last_seq = last_seq + 1,"
                    " updated_at = clock_timestamp() WHERE channel = :channel"
                ),
                {"channel": channel},
            )
        hot = await session.scalar(
            text("SELECT pg_stat_get_xact_tuples_hot_updated('channel_heads'::regclass)")
        )
        await session.rollback()
    assert hot == 3
