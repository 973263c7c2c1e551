from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from onetask.events.messages import NotificationType, UTCTime

__all__ = ["NotificationType"]


class NotificationOut(BaseModel):
    """The guide's notification fields, plus `type` and `read_at`."""

    id: int
    title: str
    content: str
    created_at: UTCTime
    read: bool
    read_at: UTCTime | None
    related_entity_type: str | None
    related_entity_id: int | str | None = Field(
        description="An integer for tasks (the task id), a string for focus sessions (`focus-<n>`)"
    )
    type: NotificationType


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )


class NotificationFilters(BaseModel):
    unread_only: bool = False
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=100)] | None = None


class Count(BaseModel):
    count: int


class Preferences(BaseModel):
    """Muted types are neither stored nor pushed; every other type is delivered."""

    model_config = ConfigDict(extra="forbid")

    muted: list[NotificationType] = Field(
        description="Notification types you do not want to receive"
    )
