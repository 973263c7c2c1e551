from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from onetask.events.messages import UTCTime
from onetask.inputs import AwareDatetime, Id, StorableText
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


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    status: Status = "todo"
    priority: Priority = "medium"
    due_date: AwareDatetime | None = None
    assignee_id: Id | None = None


class TaskPatch(BaseModel):
    """Only the fields sent are changed; `null` clears description, due_date, assignee."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    status: Status | None = None
    priority: Priority | None = None
    due_date: AwareDatetime | None = None
    assignee_id: Id | None = None


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
