"""Sessions as the REST API shows them: with participants and the timer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import FocusParticipant, FocusSession
from onetask.db.types import utcnow
from onetask.events.messages import FocusUser
from onetask.focus import repository, timer
from onetask.focus.schemas import FocusSessionOut, ParticipantOut
from onetask.focus.service import public_id


async def describe(session: AsyncSession, sessions: list[FocusSession]) -> list[FocusSessionOut]:
    """Sessions with their participants and timer, as the REST API returns them."""
    now = utcnow()
    people: dict[int, list[ParticipantOut]] = {}
    for p in await repository.participants(session, [fs.id for fs in sessions]):
        people.setdefault(p.session_id, []).append(
            ParticipantOut(
                user=FocusUser(id=p.user_id, username=p.user.username),
                user_id=p.user_id,
                status=p.status,
                current_task_id=p.current_task_id,
                joined_at=p.joined_at,
                left_at=p.left_at,
                focused_seconds=p.focused_seconds + _running_focus(p, now),
            )
        )
    return [
        FocusSessionOut(
            id=public_id(fs.id),
            workspace_id=fs.workspace_id,
            host_id=fs.host_id,
            title=fs.title,
            work_minutes=fs.work_minutes,
            break_minutes=fs.break_minutes,
            cycles=fs.cycles,
            status=fs.status,
            phase=fs.phase,
            cycle=fs.cycle,
            phase_started_at=fs.phase_started_at,
            phase_ends_at=fs.phase_ends_at,
            created_at=fs.created_at,
            started_at=fs.started_at,
            ended_at=fs.ended_at,
            timer=timer.view(fs, now),
            participants=people.get(fs.id, []),
        )
        for fs in sessions
    ]


def _running_focus(p: FocusParticipant, now: datetime) -> int:
    if p.focus_started_at is None:
        return 0
    return max(0, round((now - p.focus_started_at).total_seconds()))
