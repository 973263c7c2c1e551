from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from onetask.events.messages import UTCTime
from onetask.inputs import AwareDatetime, Id

MAX_BEFORE_S = 366 * 24 * 3600
ReminderStatus = Literal["pending", "fired", "inactive"]


class ReminderIn(BaseModel):
    """Exactly one of `at` and `before_s`."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(default=None, description="When to remind (absolute)")
    before_s: int | None = Field(
        default=None,
        ge=0,
        le=MAX_BEFORE_S,
        description="Remind this many seconds before the task's due date (0: at it); "
        "moves with the due date",
    )
    user_id: Id | None = Field(
        default=None,
        description="Who is reminded: yourself, the task's assignee or its owner; default "
        "the assignee, else the owner",
    )

    @model_validator(mode="after")
    def _one_time(self) -> ReminderIn:
        if (self.at is None) == (self.before_s is None):
            raise ValueError("give exactly one of `at` (a time) and `before_s` (seconds)")
        return self


class ReminderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    task_id: int
    user_id: int = Field(description="The recipient")
    created_by_id: int | None
    at: UTCTime | None
    before_s: int | None
    fire_at: UTCTime | None = Field(
        description="When it fires next; null while it is not pending (see `status`)"
    )
    fired_at: UTCTime | None
    status: ReminderStatus = Field(
        description="`pending` (will fire at `fire_at`), `fired`, or `inactive`: the task is "
        "completed or deleted, has no due date (relative reminder), or the moment passed "
        "while it was"
    )
    created_at: UTCTime


class ReminderList(BaseModel):
    items: list[ReminderOut]
