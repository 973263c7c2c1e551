"""The focus timer's arithmetic: phase lengths, the phase after this one, the wire view.

The server owns the clock: a running session stores when its phase started and ends, and
the scheduler moves it on at `phase_ends_at`. Cycles run work → break → work …; the last
cycle has no break, the session completes when its last work phase ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from onetask.db.models import FocusSession
from onetask.events.messages import FocusTimer

ENDED = frozenset({"completed", "cancelled"})


def phase_seconds(fs: FocusSession, phase: str) -> float:
    return (fs.work_minutes if phase == "work" else fs.break_minutes) * fs.minute_s


def following(fs: FocusSession) -> tuple[str, int] | None:
    """(phase, cycle) after the current phase, or None when the session is complete."""
    if fs.phase == "break":
        return "work", fs.cycle + 1
    if fs.cycle >= fs.cycles:
        return None
    return "break", fs.cycle


def begin_phase(fs: FocusSession, phase: str, cycle: int, started_at: datetime) -> None:
    fs.phase, fs.cycle = phase, cycle
    fs.phase_started_at = started_at
    fs.phase_ends_at = started_at + timedelta(seconds=phase_seconds(fs, phase))


def remaining_s(fs: FocusSession, now: datetime) -> float | None:
    if fs.status == "running" and fs.phase_ends_at is not None:
        return round(max(0.0, (fs.phase_ends_at - now).total_seconds()), 3)
    if fs.status == "paused":
        return fs.paused_remaining_s
    return None


def view(fs: FocusSession, now: datetime) -> FocusTimer:
    return FocusTimer(
        phase=fs.phase,
        cycle=fs.cycle,
        cycles=fs.cycles,
        status=fs.status,
        phase_started_at=fs.phase_started_at,
        phase_ends_at=fs.phase_ends_at,
        remaining_s=remaining_s(fs, now),
        server_time=now,
    )


def is_focusing(fs: FocusSession, participant_status: str) -> bool:
    """Focused time accrues while the session runs a work phase and the participant is active."""
    return fs.status == "running" and fs.phase == "work" and participant_status == "active"
