"""The wire messages, one model per message type (PRODUCT.md §4).

The integration guide's shapes are kept field for field; everything else is additive.
These models are also the source of the AsyncAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

NotificationType = Literal[
    "task_assigned",
    "task_updated",
    "task_completed",
    "task_deleted",
    "task_reminder",
    "task_overdue",
    "focus_invite",
    "system",
]
TaskAction = Literal["created", "updated", "completed", "deleted", "restored"]
FocusAction = Literal[
    "participant_joined",
    "participant_left",
    "status_change",
    "task_changed",
    "phase_changed",
    "session_ended",
    "host_changed",
    "timer_changed",
]


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as in the guide ("2025-03-23T14:30:00Z")."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


UTCTime = Annotated[datetime, PlainSerializer(iso_utc, when_used="json")]


def _is_none(value: object) -> bool:
    return value is None


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRecurrence(WireModel):
    rule: str
    tz: str
    next_due_date: UTCTime | None


class TaskData(WireModel):
    id: int
    title: str
    description: str | None
    status: str
    priority: str
    due_date: UTCTime | None
    workspace_id: int
    user_id: int
    assignee_id: int | None
    version: int
    actor_id: int | None
    completed_at: UTCTime | None
    created_at: UTCTime
    updated_at: UTCTime
    deleted_at: UTCTime | None
    # Recurring tasks only (left out otherwise): the rule, and the occurrence it follows.
    recurrence: TaskRecurrence | None = Field(default=None, exclude_if=_is_none)
    follows_id: int | None = Field(default=None, exclude_if=_is_none)


class TaskUpdate(WireModel):
    type: Literal["task_update"] = "task_update"
    action: TaskAction
    seq: int = 0
    data: TaskData


class NotificationData(WireModel):
    id: int
    title: str
    content: str
    created_at: UTCTime
    read: bool
    related_entity_type: str | None
    related_entity_id: int | str | None
    type: NotificationType


class NotificationMessage(WireModel):
    type: Literal["notification"] = "notification"
    seq: int = 0
    data: NotificationData


class NotificationReadData(WireModel):
    """Either `{"ids": [...]}` or `{"all": true}`; the unused key is left out."""

    ids: list[int] | None = Field(default=None, exclude_if=_is_none)
    all: bool | None = Field(default=None, exclude_if=_is_none)


class NotificationRead(WireModel):
    type: Literal["notification_read"] = "notification_read"
    seq: int = 0
    data: NotificationReadData


class FocusUser(WireModel):
    id: int
    username: str


class FocusTimer(WireModel):
    phase: str
    cycle: int
    cycles: int
    status: str
    phase_started_at: UTCTime | None
    phase_ends_at: UTCTime | None
    remaining_s: float | None
    server_time: UTCTime


class FocusParticipantSummary(WireModel):
    """One participant's line in `session_ended` (sent as `data.summary`)."""

    user: FocusUser
    focused_seconds: int
    tasks_completed: int
    completed_task_ids: list[int]


class FocusData(WireModel):
    """The guide's fields and the timer; `host_id` (timer, phase, host and end messages),
    `change` (timer_changed: started, paused or resumed) and `summary` (session_ended)
    appear only on the actions that carry them."""

    session_id: str
    user: FocusUser | None = None
    status: str | None = None
    current_task_id: int | None = None
    timer: FocusTimer
    host_id: int | None = Field(default=None, exclude_if=_is_none)
    change: Literal["started", "paused", "resumed"] | None = Field(
        default=None, exclude_if=_is_none
    )
    summary: list[FocusParticipantSummary] | None = Field(default=None, exclude_if=_is_none)


class FocusUpdate(WireModel):
    type: Literal["focus_update"] = "focus_update"
    action: FocusAction
    seq: int = 0
    data: FocusData


class ConnectedData(WireModel):
    channel: str
    seq: int
    server_time: UTCTime
    heartbeat_s: float = Field(
        description="The server sends a protocol ping this often (seconds); browsers and "
        "WebSocket libraries answer it by themselves."
    )
    idle_timeout_s: float = Field(
        description="A peer that answers no ping and sends no message for this long "
        "(seconds) is closed with 4408: a client that only listens is never idle."
    )


class Connected(WireModel):
    type: Literal["connected"] = "connected"
    data: ConnectedData


class Pong(WireModel):
    type: Literal["pong"] = "pong"


class AuthOkData(WireModel):
    expires_at: UTCTime


class AuthOk(WireModel):
    """Any channel: the `auth` message's token was accepted; the connection now lasts
    until `expires_at` (UTC, the format of `connected.server_time`)."""

    type: Literal["auth_ok"] = "auth_ok"
    data: AuthOkData


class ErrorData(WireModel):
    code: str
    detail: str


class Error(WireModel):
    type: Literal["error"] = "error"
    data: ErrorData


class ResyncRequiredData(WireModel):
    reason: Literal["history_expired", "ahead_of_server", "before_membership"]
    since: int
    seq: int


class ResyncRequired(WireModel):
    type: Literal["resync_required"] = "resync_required"
    data: ResyncRequiredData


class AccessChangeData(WireModel):
    workspace_id: int
    user_id: int | None = None


class AccessRevoked(WireModel):
    """Control channel only (never sent to clients): a member lost access."""

    type: Literal["access_revoked"] = "access_revoked"
    seq: int = 0
    data: AccessChangeData


class WorkspaceDeleted(WireModel):
    """Control channel only: every connection to the workspace ends."""

    type: Literal["workspace_deleted"] = "workspace_deleted"
    seq: int = 0
    data: AccessChangeData


class ApiTokenRevokedData(WireModel):
    token_id: int
    user_id: int


class ApiTokenRevoked(WireModel):
    """Control channel only: the sockets opened with this personal API token close (4401)."""

    type: Literal["api_token_revoked"] = "api_token_revoked"
    seq: int = 0
    data: ApiTokenRevokedData


WorkspaceAction = Literal["updated", "member_added", "member_role_changed", "member_removed"]


class WorkspaceSummary(WireModel):
    id: int
    name: str
    description: str | None
    owner_id: int
    created_at: UTCTime
    updated_at: UTCTime


class MemberSummary(WireModel):
    user_id: int
    username: str
    full_name: str | None
    role: str
    joined_at: UTCTime


class WorkspaceUpdateData(WireModel):
    """The workspace as it now is; `member` on the member_* actions (on member_removed,
    the member as they were) and `actor_id`, who made the change."""

    workspace: WorkspaceSummary
    member: MemberSummary | None = Field(default=None, exclude_if=_is_none)
    actor_id: int


class WorkspaceUpdate(WireModel):
    type: Literal["workspace_update"] = "workspace_update"
    action: WorkspaceAction
    seq: int = 0
    data: WorkspaceUpdateData


ChannelMessage = TaskUpdate | NotificationMessage | NotificationRead | FocusUpdate | WorkspaceUpdate
ControlMessage = AccessRevoked | WorkspaceDeleted | ApiTokenRevoked
LoggedMessage = ChannelMessage | ControlMessage


def encode(message: BaseModel) -> str:
    return message.model_dump_json()
