"""ORM models of every domain. The database layer knows tables, not rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from onetask.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class User(Base):
    __tablename__ = "users"
    # Never reuse an id on SQLite: channels are named by id, so a new workspace must not
    # inherit a deleted one's event history.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str] = mapped_column(String(32))
    full_name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()


Index("uq_users_username_lower", func.lower(User.username), unique=True)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    # Never reuse an id on SQLite: channels are named by id, so a new workspace must not
    # inherit a deleted one's event history.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Workspace(Base):
    __tablename__ = "workspaces"
    # Never reuse an id on SQLite: channels are named by id, so a new workspace must not
    # inherit a deleted one's event history.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Membership(Base):
    __tablename__ = "memberships"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()
    # The workspace channel's seq when the membership began: the member's replay starts
    # after it (what came before was not theirs to see).
    joined_seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0, server_default="0"
    )

    user: Mapped[User] = relationship(lazy="raise")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_workspace_created", "workspace_id", "created_at", "id"),
        Index("uq_tasks_follows_id", "follows_id", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="todo")
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    # When the assignee is told the task is overdue: the due date while the task is open
    # and that notice is still to come, else NULL (the scheduler's index on due work).
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # RFC 5545 RRULE, its IANA time zone, and the series' first due date (COUNT and the
    # time of day count from it); all NULL on a task that does not repeat.
    recurrence_rule: Mapped[str | None] = mapped_column(String(500))
    recurrence_tz: Mapped[str | None] = mapped_column(String(64))
    recurrence_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The recurring task whose completion created this one: unique, so one completion
    # makes at most one next occurrence, however many processes race.
    # (No foreign key: SQLite could only add one by rebuilding the table.)
    follows_id: Mapped[int | None] = mapped_column(Integer)


class TaskReminder(Base):
    """A reminder of a task for one recipient: at a moment (`at`) or `before_s` seconds
    before the task's due date. `fire_at` is when it fires next, NULL while it is not
    pending (fired, task completed or deleted, no due date, or its moment passed)."""

    __tablename__ = "task_reminders"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    before_s: Mapped[int | None] = mapped_column(Integer)
    fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created_at()


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    related_entity_type: Mapped[str | None] = mapped_column(String(32))
    related_entity_id: Mapped[str | None] = mapped_column(String(64))


class NotificationMute(Base):
    __tablename__ = "notification_mutes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(32), primary_key=True)


class FocusSession(Base):
    __tablename__ = "focus_sessions"
    __table_args__ = (
        Index("ix_focus_sessions_due", "status", "phase_ends_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(255))
    work_minutes: Mapped[int] = mapped_column(Integer, default=25)
    break_minutes: Mapped[int] = mapped_column(Integer, default=5)
    cycles: Mapped[int] = mapped_column(Integer, default=4)
    # Seconds in one of this session's "minutes" (ONETASK_FOCUS_MINUTE_S when created).
    minute_s: Mapped[float] = mapped_column(default=60.0, server_default=text("60"))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    phase: Mapped[str] = mapped_column(String(8), default="work")
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    phase_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phase_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_remaining_s: Mapped[float | None] = mapped_column()
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FocusParticipant(Base):
    __tablename__ = "focus_participants"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("focus_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="active")
    current_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    joined_at: Mapped[datetime] = _created_at()
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    focused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    focus_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="raise")


class Event(Base):
    """The outbox and the replay log in one: one row per message of a channel."""

    __tablename__ = "events"

    channel: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message: Mapped[str] = mapped_column(Text)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ChannelHead(Base):
    """Per-channel counter: its row lock orders a channel's writers by commit.

    Every change updates its channels' rows, so no index covers `last_seq` or
    `updated_at`: PostgreSQL then updates the row in place (HOT, no new index entries
    and no bloat between vacuums), and a SQLite commit writes one page less."""

    __tablename__ = "channel_heads"

    channel: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChannelPublished(Base):
    """The relay's watermark, apart from the head row so it never waits on writers."""

    __tablename__ = "channel_published"

    channel: Mapped[str] = mapped_column(String(128), primary_key=True)
    published_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class Webhook(Base):
    """A workspace's outgoing webhook. `cursor_seq` is how far its workspace channel's
    events have been turned into deliveries (advanced in the transaction that creates
    them, so an event is never skipped nor turned into two deliveries)."""

    __tablename__ = "webhooks"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    # Kept as given: signing needs it (like any HMAC webhook secret, it cannot be hashed).
    secret: Mapped[str] = mapped_column(String(256))
    event_types: Mapped[str] = mapped_column(Text)  # space-separated names
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One message to one webhook, retried until it succeeds or its time runs out.

    `next_attempt_at` is set while the delivery is pending, NULL once it has ended: the
    index on it finds what is due. A process that claims an attempt moves it to the end
    of its lease, so an attempt whose process died is due again when the lease expires."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_seq"),
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime())
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created_at()
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
class ApiToken(Base):
    """A personal API token: only the SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "read" or "read write"
    scopes: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyKey(Base):
    """The first successful answer to a write sent with an `Idempotency-Key`, stored in
    the write's own transaction."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    headers: Mapped[str] = mapped_column(Text)  # JSON object of the replayed headers
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
