"""The notification inbox (PRODUCT.md §2, §4): automatic notifications, read state, mutes.

Every notification is stored and pushed in the caller's transaction: the row and its
`notification` event commit together, or neither does. A muted type is neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.cursors import decode_cursor, encode_cursor, malformed
from onetask.db.models import Notification, User
from onetask.db.types import utcnow
from onetask.errors import NotFound
from onetask.events import outbox
from onetask.events.channels import notifications_channel
from onetask.events.messages import (
    NotificationData,
    NotificationMessage,
    NotificationRead,
    NotificationReadData,
)
from onetask.inputs import MAX_ID
from onetask.notifications import repository
from onetask.notifications.schemas import NotificationFilters, NotificationType

if TYPE_CHECKING:  # tasks import this module to notify; a runtime import would be a cycle
    from onetask.tasks.service import TaskChange


class NotificationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such notification in your inbox.")


@dataclass(frozen=True, slots=True)
class Wording:
    type: NotificationType
    title: str
    to_actor: str  # second person: the recipient did it
    to_others: str  # third person: `{actor}` did it


WORDING = {
    "assigned": Wording(
        "task_assigned",
        "Task Assigned",
        "You've assigned yourself {task}",
        "{actor} assigned you {task}",
    ),
    "updated": Wording(
        "task_updated", "Task Updated", "You've updated {task}", "{actor} updated {task}"
    ),
    "completed": Wording(
        "task_completed", "Task Completed", "You've completed {task}", "{actor} completed {task}"
    ),
    "deleted": Wording(
        "task_deleted", "Task Deleted", "You've deleted {task}", "{actor} deleted {task}"
    ),
    # A restore undoes a delete, so whoever was told of the delete hears of the undo.
    "restored": Wording(
        "task_updated", "Task Restored", "You've restored {task}", "{actor} restored {task}"
    ),
}


@dataclass(frozen=True, slots=True)
class Draft:
    user_id: int
    type: str
    title: str
    content: str
    related_entity_type: str | None
    related_entity_id: str | None


async def on_task_change(session: AsyncSession, change: TaskChange) -> None:
    """PRODUCT.md §4 "Automatic notifications", one per recipient per change."""
    task = change.task
    plan = _recipients(change)
    if not plan:
        return
    drafts = []
    for user_id, what in plan.items():
        wording = WORDING[what]
        template = wording.to_actor if user_id == change.actor.id else wording.to_others
        content = template.format(actor=change.actor.username, task=f"'{task.title}'")
        drafts.append(Draft(user_id, wording.type, wording.title, content, "task", str(task.id)))
    # Only members of the workspace hear of it: e.g. an owner who left sees nothing.
    await _store(session, drafts, member_of=task.workspace_id)


def _recipients(change: TaskChange) -> dict[int, str]:
    """Recipient → what to tell them; a newly assigned user hears "assigned" only."""
    task = change.task
    plan: dict[int, str] = {}
    reassigned = change.action == "created" or (
        "assignee_id" in change.changed and task.assignee_id != change.previous_assignee_id
    )
    if reassigned and task.assignee_id is not None:
        plan[task.assignee_id] = "assigned"
    if change.action != "created":
        for user_id in (task.user_id, task.assignee_id):
            if user_id is not None:
                plan.setdefault(user_id, change.action)
    return plan


async def notify_focus_invite(
    session: AsyncSession, recipient_id: int, *, host: User, focus_session_id: str, title: str
) -> Notification | None:
    """Invite `recipient_id` to a focus session; None when muted (or the host themself)."""
    if recipient_id == host.id:
        return None
    content = f"{host.username} invited you to focus on '{title}'"
    draft = Draft(
        recipient_id,
        "focus_invite",
        "Focus Session Invite",
        content,
        "focus_session",
        focus_session_id,
    )
    created = await deliver(session, [draft])
    return created[0] if created else None


async def deliver(session: AsyncSession, drafts: list[Draft]) -> list[Notification]:
    """Store each draft whose type its recipient has not muted, and push it after commit."""
    return await _store(session, drafts)


async def _store(
    session: AsyncSession, drafts: list[Draft], *, member_of: int | None = None
) -> list[Notification]:
    now = utcnow()
    stored = []
    for d in drafts:
        row = Notification(
            user_id=d.user_id,
            type=d.type,
            title=d.title,
            content=d.content,
            created_at=now,
            read=False,
            related_entity_type=d.related_entity_type,
            related_entity_id=d.related_entity_id,
        )
        if await repository.add_unmuted(session, row, member_of=member_of):
            message = NotificationMessage(data=wire_data(row))
            outbox.record(session, notifications_channel(row.user_id), message)
            stored.append(row)
    return stored


def wire_data(row: Notification) -> NotificationData:
    return NotificationData(
        id=row.id,
        title=row.title,
        content=row.content,
        created_at=row.created_at,
        read=row.read,
        related_entity_type=row.related_entity_type,
        related_entity_id=entity_id(row.related_entity_id),
        type=cast(NotificationType, row.type),
    )


def entity_id(raw: str | None) -> int | str | None:
    """Numeric ids go out as numbers, as in the guide (`"related_entity_id": 456`)."""
    return int(raw) if raw is not None and raw.isdigit() else raw


async def page(
    session: AsyncSession, user: User, filters: NotificationFilters
) -> tuple[list[Notification], str | None]:
    before_id = _decode_cursor(filters.cursor) if filters.cursor else None
    rows = await repository.page(
        session,
        user.id,
        unread_only=filters.unread_only,
        before_id=before_id,
        limit=filters.limit + 1,
    )
    if len(rows) <= filters.limit:
        return rows, None
    items = rows[: filters.limit]
    return items, _encode_cursor(items[-1].id)


async def unread_count(session: AsyncSession, user: User) -> int:
    return await repository.count_unread(session, user.id)


async def mark_read(session: AsyncSession, user: User, notification_id: int) -> Notification:
    channel = notifications_channel(user.id)
    await repository.lock_inbox(session, channel)
    row = await _mine(session, user, notification_id)
    if not row.read:
        row.read, row.read_at = True, utcnow()
        await session.flush()
        outbox.record(session, channel, NotificationRead(data=NotificationReadData(ids=[row.id])))
    return row


async def mark_all_read(session: AsyncSession, user: User) -> int:
    channel = notifications_channel(user.id)
    await repository.lock_inbox(session, channel)
    count = await repository.mark_all_read(session, user.id, utcnow())
    if count:
        outbox.record(session, channel, NotificationRead(data=NotificationReadData(all=True)))
    return count


async def remove(session: AsyncSession, user: User, notification_id: int) -> None:
    await repository.remove(session, await _mine(session, user, notification_id))


async def muted(session: AsyncSession, user: User) -> list[str]:
    return sorted(await repository.muted(session, user.id))


async def set_muted(session: AsyncSession, user: User, kinds: list[NotificationType]) -> list[str]:
    await repository.set_muted(session, user.id, sorted(set(kinds)))
    return sorted(set(kinds))


async def _mine(session: AsyncSession, user: User, notification_id: int) -> Notification:
    row = await repository.get(session, user.id, notification_id)
    if row is None:
        raise NotificationNotFound()
    return row


def _encode_cursor(last_id: int) -> str:
    return encode_cursor({"n": last_id})


def _decode_cursor(cursor: str) -> int:
    before = decode_cursor(cursor).get("n")
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_ID:
        raise malformed()
    return before
