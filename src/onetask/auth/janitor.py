"""Deletes refresh-token families that can no longer be used, and idempotency keys past
their 24 hours, every so often, in every process (the DELETEs are idempotent, so
concurrent rounds only repeat each other)."""

from __future__ import annotations

import asyncio
import logging

from onetask import idempotency
from onetask.auth import service
from onetask.db import uow
from onetask.db.engine import Database
from onetask.errors import log_failed_round

log = logging.getLogger("onetask.auth")


class RefreshTokenJanitor:
    def __init__(self, database: Database, interval_s: float) -> None:
        self.database = database
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="refresh-token-janitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def purge(self) -> int:
        async with self.database.session(write=True) as session:
            deleted = await service.purge_dead_refresh_tokens(session)
            await uow.commit(session)
        async with self.database.session(write=True) as session:
            keys = await idempotency.purge(session)
            await uow.commit(session)
        if keys:
            log.info("deleted %d idempotency keys older than 24 h", keys)
        return deleted

    async def _run(self) -> None:
        while True:
            try:
                deleted = await self.purge()
                if deleted:
                    log.info("deleted %d dead refresh tokens", deleted)
            except Exception as exc:
                log_failed_round(log, "refresh-token purge", exc)
            await asyncio.sleep(self.interval_s)
