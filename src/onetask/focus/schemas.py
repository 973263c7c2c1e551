from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from onetask.events.messages import FocusTimer, FocusUser, UTCTime
from onetask.inputs import Id, StorableText

SessionStatus = Literal["scheduled", "running", "paused", "completed", "cancelled"]
ParticipantStatus = Literal["active", "on_break", "away"]
# Only what the database can store passes (inputs.py): bad input is a 422, never a 500.
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), StorableText
]


class FocusSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace_id: Id
    title: Title
    work_minutes: int = Field(default=25, ge=1, le=240)
    break_minutes: int = Field(default=5, ge=1, le=120)
    cycles: int = Field(default=4, ge=1, le=24)


class JoinIn(BaseModel):
    """Optional body of `/join`: start with a status and a task."""

    model_config = ConfigDict(extra="forbid")

    status: ParticipantStatus = "active"
    current_task_id: Id | None = None


class ParticipantPatch(BaseModel):
    """Only the fields sent are changed; `current_task_id: null` clears the task."""

    model_config = ConfigDict(extra="forbid")

    status: ParticipantStatus | None = None
    current_task_id: Id | None = None


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id


class SessionFilters(BaseModel):
    workspace_id: Id | None = None
    status: SessionStatus | None = None


class ParticipantOut(BaseModel):
    user: FocusUser
    user_id: int
    status: Literal["active", "on_break", "away", "left"]
    current_task_id: int | None
    joined_at: UTCTime
    left_at: UTCTime | None
    focused_seconds: int


class FocusSessionOut(BaseModel):
    id: str = Field(examples=["focus-123"])
    workspace_id: int
    host_id: int
    title: str
    work_minutes: int
    break_minutes: int
    cycles: int
    status: SessionStatus
    phase: Literal["work", "break"]
    cycle: int
    phase_started_at: UTCTime | None
    phase_ends_at: UTCTime | None
    created_at: UTCTime
    started_at: UTCTime | None
    ended_at: UTCTime | None
    timer: FocusTimer
    participants: list[ParticipantOut]


class FocusSessionList(BaseModel):
    items: list[FocusSessionOut]
