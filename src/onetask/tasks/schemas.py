from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from onetask.events.messages import UTCTime

Status = Literal["todo", "in_progress", "done"]
Priority = Literal["low", "medium", "high", "urgent"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=20000)]
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


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. 2025-04-01T12:00:00Z")
    return value.astimezone(UTC)


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    status: Status = "todo"
    priority: Priority = "medium"
    due_date: AwareDatetime | None = None
    assignee_id: int | None = None


class TaskPatch(BaseModel):
    """Only the fields sent are changed; `null` clears description, due_date, assignee."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    status: Status | None = None
    priority: Priority | None = None
    due_date: AwareDatetime | None = None
    assignee_id: int | None = None


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


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )


class TaskFilters(BaseModel):
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: int | None = None
    due_before: AwareDatetime | None = None
    due_after: AwareDatetime | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    include_deleted: bool = False
    sort: Sort = "-created_at"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=500)] | None = None
