"""Alembic, driven from code: `onetask db upgrade` and the start-up upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"

# The text-search index is built by a migration (0004) and described by no model: SQLite's
# FTS5 table with its shadow tables, PostgreSQL's expression index.
_SEARCH_INDEX = ("tasks_fts", "ix_tasks_fts")


def described_by_models(name: str | None, _type: str, _parents: Any) -> bool:
    """Alembic's `include_name`: what comparing the models with a database looks at."""
    return not (name or "").startswith(_SEARCH_INDEX)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    # Alembic is synchronous and runs its own event loop for the async driver.
    await asyncio.to_thread(upgrade, url)
