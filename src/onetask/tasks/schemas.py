from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from onetask.db.models import Task
from onetask.db.types import utcnow
from onetask.events.messages import UTCTime
from onetask.inputs import AwareDatetime, Id, StorableText
from onetask.tasks import recurrence
from onetask.tasks.search import has_words

Status = Literal["todo", "in_progress", "done"]
Priority = Literal["low", "medium", "high", "urgent"]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), StorableText
]
Description = Annotated[str, StringConstraints(max_length=20000), StorableText]
Sort = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
    "title",
    "-title",
]


class RecurrenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="An RFC 5545 RRULE: FREQ=DAILY|WEEKLY|MONTHLY|YEARLY, with INTERVAL, "
        "BYDAY, BYMONTHDAY, BYMONTH, COUNT or UNTIL (UTC, `…Z`), e.g. `FREQ=WEEKLY;BYDAY=MO,WE`",
        examples=["FREQ=WEEKLY;BYDAY=MO,WE"],
    )
    tz: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="IANA time zone the rule's days and times are in (e.g. Europe/Paris); "
        "default your profile's `timezone`",
        examples=["Europe/Paris"],
    )


class RecurrenceOut(BaseModel):
    rule: str
    tz: str
    next_due_date: UTCTime | None = Field(
        description="The due date of the occurrence that completing this task creates now; "
        "null when the series is over"
    )


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    status: Status = "todo"
    priority: Priority = "medium"
    due_date: AwareDatetime | None = None
    assignee_id: Id | None = None
    recurrence: RecurrenceIn | None = Field(
        default=None, description="Repeat the task (needs a due_date); see the README"
    )


class TaskPatch(BaseModel):
    """Only the fields sent are changed; `null` clears description, due_date, assignee."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    status: Status | None = None
    priority: Priority | None = None
    due_date: AwareDatetime | None = None
    assignee_id: Id | None = None
    recurrence: RecurrenceIn | None = Field(default=None, description="`null` stops repeating")


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    workspace_id: int
    user_id: int
    assignee_id: int | None
    title: str
    description: str | None
    status: Status
    priority: Priority
    due_date: UTCTime | None
    completed_at: UTCTime | None
    created_at: UTCTime
    updated_at: UTCTime
    deleted_at: UTCTime | None
    version: int
    recurrence: RecurrenceOut | None = None
    follows_id: int | None = Field(
        default=None, description="The recurring task whose completion created this one"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_task(cls, value: Any) -> Any:
        if not isinstance(value, Task):
            return value
        fields = {name: getattr(value, name) for name in _TASK_COLUMNS}
        return {**fields, "recurrence": recurrence_out(value)}


_TASK_COLUMNS = [
    *("id", "workspace_id", "user_id", "assignee_id", "title", "description", "status"),
    *("priority", "due_date", "completed_at", "created_at", "updated_at", "deleted_at"),
    *("version", "follows_id"),
]


def recurrence_out(task: Task) -> RecurrenceOut | None:
    rule, tz, start = task.recurrence_rule, task.recurrence_tz, task.recurrence_start
    if rule is None or tz is None or start is None:
        return None
    after = max(d for d in (task.due_date, utcnow()) if d is not None)
    next_due_date = recurrence.next_due(rule, tz, start, after)
    return RecurrenceOut(rule=rule, tz=tz, next_due_date=next_due_date)


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )


class TaskFilters(BaseModel):
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: Id | None = None
    due_before: AwareDatetime | None = None
    due_after: AwareDatetime | None = None
    q: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=200),
            StorableText,
            AfterValidator(has_words),
        ]
        | None
    ) = Field(
        default=None,
        description="Words that must all start a word of the title or description, in any "
        'order and case (`milk buy` finds "Buy oat milk"); other characters separate words',
    )
    include_deleted: bool = False
    sort: Sort = "-created_at"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=500)] | None = None
