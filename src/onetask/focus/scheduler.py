"""Focus sessions' phase boundaries, as a kind of the one scheduler (onetask/scheduler.py).

`service.advance` claims each transition with a conditional UPDATE, so exactly one process
emits each `phase_changed` / `session_ended`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.focus import repository, service


class FocusPhases:
    name = "focus scheduler"

    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        return [pk for pk, _ in await repository.due(session, now, limit)]

    async def run(self, session: AsyncSession, pk: int, now: datetime) -> bool:
        return await service.advance(session, pk)

    async def next_at(self, session: AsyncSession) -> datetime | None:
        return await repository.next_boundary(session)
