"""Focus session rules (PRODUCT.md §2): participation, the host's timer control, the clock.

Every change first locks the session row (`repository.get(..., for_update=True)`), so the
changes of one session — requests, socket messages, presence and the scheduler — are
serialized, and each records its `focus_update` in the same transaction.

Focused time: a participant accrues `focused_seconds` while the session runs a work phase
and their status is `active`; `focus_started_at` marks the start of the current stretch.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import FocusParticipant, FocusSession, User
from onetask.db.types import utcnow
from onetask.errors import Conflict, Forbidden, InvalidInput, NotFound
from onetask.events import outbox
from onetask.events.channels import focus_channel
from onetask.events.messages import (
    FocusAction,
    FocusData,
    FocusParticipantSummary,
    FocusUpdate,
    FocusUser,
)
from onetask.focus import repository, timer
from onetask.focus.schemas import FocusSessionIn, JoinIn, ParticipantPatch
from onetask.inputs import id_from_text
from onetask.notifications import service as notifications
from onetask.scheduler import wake_after_commit
from onetask.workspaces import service as workspaces

# Called after a commit that started or resumed a timer (the scheduler wakes up).
_PUBLIC_ID = re.compile(r"focus-([1-9][0-9]*)")


class FocusSessionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such focus session, or you are not a member of its workspace.")


def public_id(pk: int) -> str:
    return f"focus-{pk}"


def parse_id(raw: str) -> int:
    match = _PUBLIC_ID.fullmatch(raw)
    pk = id_from_text(match.group(1)) if match else None
    if pk is None:
        raise FocusSessionNotFound()
    return pk


async def visible(
    session: AsyncSession, raw_id: str, user_id: int, *, lock: bool = False
) -> FocusSession:
    fs = await repository.get(session, parse_id(raw_id), for_update=lock)
    if fs is None or not await workspaces.is_member(session, fs.workspace_id, user_id):
        raise FocusSessionNotFound()
    return fs


async def create(
    session: AsyncSession, host: User, data: FocusSessionIn, minute_s: float
) -> FocusSession:
    """`minute_s` (seconds per minute) is fixed for the session's life, so every process
    computes its boundaries alike."""
    await workspaces.access(session, data.workspace_id, host.id)
    now = utcnow()
    fs = FocusSession(**data.model_dump(), host_id=host.id, minute_s=minute_s)
    fs = await repository.add(session, fs)
    fs.created_at, fs.status, fs.phase, fs.cycle = now, "scheduled", "work", 1
    session.add(FocusParticipant(session_id=fs.id, user_id=host.id, status="active", joined_at=now))
    await session.flush()
    return fs


async def listing(
    session: AsyncSession, user: User, workspace_id: int | None, status: str | None
) -> list[FocusSession]:
    if workspace_id is not None:
        await workspaces.access(session, workspace_id, user.id)
    return await repository.visible_to(session, user.id, workspace_id, status)


# -- participation --------------------------------------------------------------------------


async def join(
    session: AsyncSession, fs: FocusSession, user: User, data: JoinIn | None = None
) -> bool:
    """Become a participant (again). False if already one: nothing happens."""
    _require_open(fs)
    data = data or JoinIn()
    now = utcnow()
    people = await repository.participants(session, [fs.id])
    p = _find(people, user.id)
    if p is not None and p.status != "left":
        return False
    if data.current_task_id is not None:
        await _require_task_of(session, fs, data.current_task_id)
    if p is None:
        p = FocusParticipant(session_id=fs.id, user_id=user.id, focused_seconds=0)
        session.add(p)
        people.append(p)
    p.user = user
    p.status, p.joined_at, p.left_at = data.status, now, None
    if "current_task_id" in data.model_fields_set or p.current_task_id is None:
        p.current_task_id = data.current_task_id
    _refocus(fs, p, now)
    await session.flush()
    _emit(session, fs, "participant_joined", now, p)
    host = _find(people, fs.host_id)
    if host is None or host.status == "left":  # the host left with nobody to hand over to
        _hand_over(session, fs, p, now)
    return True


async def leave(session: AsyncSession, fs: FocusSession, user_id: int) -> bool:
    """Stop participating. False if not a participant. The host hands over to the earliest
    remaining participant."""
    _require_open(fs)
    now = utcnow()
    people = await repository.participants(session, [fs.id])
    p = _find(people, user_id)
    if p is None or p.status == "left":
        return False
    _settle(p, now)
    p.status, p.left_at = "left", now
    await session.flush()
    _emit(session, fs, "participant_left", now, p)
    if fs.host_id == user_id:
        successor = next((q for q in people if q.status != "left"), None)
        if successor is not None:
            _hand_over(session, fs, successor, now)
    return True


async def leave_workspace(session: AsyncSession, workspace_id: int, user_id: int) -> None:
    """Someone stopped being a member of the workspace: they leave each of its open
    sessions as by `leave`, the host handing over, so nobody is left hosting (alone able
    to pause or end) a session they can no longer see.

    Every open session is locked before reading where they take part: a join locks its
    session before it checks membership, so it either commits before that read or finds
    the membership gone."""
    sessions = await repository.lock_open(session, workspace_id)
    mine = set(await repository.taking_part(session, workspace_id, user_id))
    for fs in sessions:
        if fs.id in mine:
            await leave(session, fs, user_id)


workspaces.when_member_gone("focus", leave_workspace)


async def leave_if_absent(
    session: AsyncSession, pk: int, user_id: int, is_present: Callable[[], Awaitable[bool]]
) -> bool:
    """The presence grace period is over: leave unless a socket of the user is open again.

    The check runs under the session row lock, and a socket counts itself present before
    it takes that lock to join, so a reconnect racing this leave is either seen here or
    re-joins right after it."""
    fs = await repository.get(session, pk, for_update=True)
    if fs is None or fs.status in timer.ENDED or await is_present():
        return False
    return await leave(session, fs, user_id)


async def update_me(
    session: AsyncSession, fs: FocusSession, user: User, patch: ParticipantPatch
) -> FocusParticipant:
    _require_open(fs)
    p = _find(await repository.participants(session, [fs.id]), user.id)
    if p is None or p.status == "left":
        raise Conflict("Join the focus session first.")
    now = utcnow()
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("status") is not None and changes["status"] != p.status:
        _settle(p, now)
        p.status = changes["status"]
        _refocus(fs, p, now)
        _emit(session, fs, "status_change", now, p)
    if "current_task_id" in changes and changes["current_task_id"] != p.current_task_id:
        if changes["current_task_id"] is not None:
            await _require_task_of(session, fs, changes["current_task_id"])
        p.current_task_id = changes["current_task_id"]
        _emit(session, fs, "task_changed", now, p)
    await session.flush()
    return p


async def invite(session: AsyncSession, fs: FocusSession, host: User, user_id: int) -> bool:
    """The host adds a member as a participant (status `away` until they say otherwise)
    and sends them a `focus_invite` notification. Idempotent: False, and nothing sent,
    for someone already taking part (invited before, or joined); after leaving, an
    invite adds them again."""
    _require_host(fs, host.id)
    _require_open(fs)
    if not await workspaces.is_member(session, fs.workspace_id, user_id):
        raise InvalidInput("user_id must be a member of the session's workspace.")
    invitee = await repository.user(session, user_id)
    assert invitee is not None
    if not await join(session, fs, invitee, JoinIn(status="away")):
        return False
    await notifications.notify_focus_invite(
        session, user_id, host=host, focus_session_id=public_id(fs.id), title=fs.title
    )
    return True


# -- the host's timer control ---------------------------------------------------------------


async def start(session: AsyncSession, fs: FocusSession, actor: User) -> None:
    _require_host(fs, actor.id)
    if fs.status != "scheduled":
        raise Conflict(f"The session is {fs.status}; only a scheduled session can start.")
    now = utcnow()
    fs.status, fs.started_at = "running", now
    timer.begin_phase(fs, "work", 1, now)
    await _refocus_all(session, fs, now)
    _emit(session, fs, "timer_changed", now, change="started")
    _wake_scheduler(session)


async def pause(session: AsyncSession, fs: FocusSession, actor: User) -> None:
    _require_host(fs, actor.id)
    if fs.status != "running" or fs.phase_ends_at is None:
        raise Conflict(f"The session is {fs.status}; only a running session can pause.")
    now = utcnow()
    fs.paused_remaining_s = round(max(0.0, (fs.phase_ends_at - now).total_seconds()), 3)
    fs.status, fs.phase_ends_at = "paused", None
    await _settle_all(session, fs, now)
    _emit(session, fs, "timer_changed", now, change="paused")


async def resume(session: AsyncSession, fs: FocusSession, actor: User) -> None:
    _require_host(fs, actor.id)
    if fs.status != "paused":
        raise Conflict(f"The session is {fs.status}; only a paused session can resume.")
    now = utcnow()
    remaining = fs.paused_remaining_s or 0.0
    # Shifted so that phase_ends_at - phase_started_at is always the phase's length.
    elapsed = timer.phase_seconds(fs, fs.phase) - remaining
    fs.phase_started_at = now - timedelta(seconds=elapsed)
    fs.phase_ends_at = now + timedelta(seconds=remaining)
    fs.status, fs.paused_remaining_s = "running", None
    await _refocus_all(session, fs, now)
    _emit(session, fs, "timer_changed", now, change="resumed")
    _wake_scheduler(session)


async def end(session: AsyncSession, fs: FocusSession, actor: User) -> None:
    _require_host(fs, actor.id)
    _require_open(fs)
    await _finish(session, fs, "completed" if fs.started_at else "cancelled", utcnow())


async def advance(session: AsyncSession, pk: int) -> bool:
    """Move a due running session to its next phase, or complete it. Exactly once: False
    when it is not due, or another process moved it first."""
    fs = await repository.get(session, pk)
    now = utcnow()
    if fs is None or fs.status != "running" or fs.phase_ends_at is None:
        return False
    boundary = fs.phase_ends_at
    if boundary > now:
        return False
    following = timer.following(fs)
    if following is None:
        claimed = {"status": "completed", "ended_at": boundary, "phase_ends_at": None}
    else:
        phase, cycle = following
        length = timedelta(seconds=timer.phase_seconds(fs, phase))
        claimed = {
            "phase": phase,
            "cycle": cycle,
            "phase_started_at": boundary,
            "phase_ends_at": boundary + length,
        }
    if not await repository.claim_transition(session, fs, claimed):
        return False
    await session.refresh(fs)
    if following is None:
        await _finish(session, fs, "completed", boundary)
        return True
    people = await repository.participants(session, [fs.id])
    for p in people:
        _settle(p, boundary)
        _refocus(fs, p, boundary)
    _emit(session, fs, "phase_changed", now)
    return True


# -- helpers --------------------------------------------------------------------------------


async def _finish(session: AsyncSession, fs: FocusSession, status: str, at: datetime) -> None:
    people = await repository.participants(session, [fs.id])
    for p in people:
        _settle(p, at)
    fs.status, fs.ended_at, fs.phase_ends_at, fs.paused_remaining_s = status, at, None, None
    await session.flush()
    summary = await _summary(session, fs, people)
    _emit(session, fs, "session_ended", utcnow(), final=True, summary=summary)


async def _summary(
    session: AsyncSession, fs: FocusSession, people: list[FocusParticipant]
) -> list[FocusParticipantSummary]:
    done: dict[int, list[int]] = {}
    if fs.started_at is not None and fs.ended_at is not None:
        window = await repository.completed_tasks(
            session, fs.workspace_id, fs.started_at, fs.ended_at
        )
        for task_id, credited in window:
            done.setdefault(credited, []).append(task_id)
    return [
        FocusParticipantSummary(
            user=FocusUser(id=p.user_id, username=p.user.username),
            focused_seconds=p.focused_seconds,
            tasks_completed=len(done.get(p.user_id, [])),
            completed_task_ids=done.get(p.user_id, []),
        )
        for p in people
    ]


def _hand_over(
    session: AsyncSession, fs: FocusSession, to: FocusParticipant, now: datetime
) -> None:
    if fs.host_id == to.user_id:
        return
    fs.host_id = to.user_id
    _emit(session, fs, "host_changed", now, to)


def _emit(
    session: AsyncSession,
    fs: FocusSession,
    action: FocusAction,
    now: datetime,
    who: FocusParticipant | None = None,
    *,
    final: bool = False,
    **extra: object,
) -> None:
    fields: dict[str, object] = {"session_id": public_id(fs.id), "timer": timer.view(fs, now)}
    if who is not None:
        fields["user"] = FocusUser(id=who.user_id, username=who.user.username)
        fields["status"] = who.status
        fields["current_task_id"] = who.current_task_id
    if action in ("host_changed", "timer_changed", "phase_changed", "session_ended"):
        fields["host_id"] = fs.host_id
    data = FocusData.model_validate({**fields, **extra})
    message = FocusUpdate(action=action, data=data)
    outbox.record(session, focus_channel(fs.id), message, final=final)


def _find(people: list[FocusParticipant], user_id: int) -> FocusParticipant | None:
    return next((p for p in people if p.user_id == user_id), None)


def _settle(p: FocusParticipant, at: datetime) -> None:
    if p.focus_started_at is not None:
        p.focused_seconds += max(0, round((at - p.focus_started_at).total_seconds()))
        p.focus_started_at = None


def _refocus(fs: FocusSession, p: FocusParticipant, at: datetime) -> None:
    if timer.is_focusing(fs, p.status) and p.focus_started_at is None:
        p.focus_started_at = at


async def _settle_all(session: AsyncSession, fs: FocusSession, at: datetime) -> None:
    for p in await repository.participants(session, [fs.id]):
        _settle(p, at)


async def _refocus_all(session: AsyncSession, fs: FocusSession, at: datetime) -> None:
    for p in await repository.participants(session, [fs.id]):
        _refocus(fs, p, at)


def _require_host(fs: FocusSession, user_id: int) -> None:
    if fs.host_id != user_id:
        raise Forbidden("Only the session's host controls the timer.")


def _require_open(fs: FocusSession) -> None:
    if fs.status in timer.ENDED:
        raise Conflict(f"The focus session is {fs.status}.")


async def _require_task_of(session: AsyncSession, fs: FocusSession, task_id: int) -> None:
    if await repository.task_workspace(session, task_id) != fs.workspace_id:
        raise InvalidInput("current_task_id must be a task of the session's workspace.")


def _wake_scheduler(session: AsyncSession) -> None:
    wake_after_commit(session)
