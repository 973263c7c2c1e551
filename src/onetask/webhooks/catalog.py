"""The event types a webhook can subscribe to: the workspace channel's messages.

A subscription names a message type (`task_update`: every action), one action of it
(`task.created`), or `*` (everything the workspace channel carries, including types
added later). A message type that joins the workspace channel is added to
`WORKSPACE_MESSAGES` with its actions; its events are named by `event_name`.
"""

from __future__ import annotations

from typing import get_args

from onetask.events.messages import TaskAction, WorkspaceAction

# Message type → its actions (empty: a type without actions is one event type).
WORKSPACE_MESSAGES: dict[str, tuple[str, ...]] = {
    "task_update": get_args(TaskAction),
    "workspace_update": get_args(WorkspaceAction),
}
EVERYTHING = "*"
PING = "ping"


def event_name(message_type: str, action: str | None) -> str:
    """`task_update` + `created` → `task.created`; a type without action keeps its name."""
    if action is None:
        return message_type
    return f"{message_type.removesuffix('_update')}.{action}"


def known_event_types() -> list[str]:
    names = [EVERYTHING]
    for message_type, actions in WORKSPACE_MESSAGES.items():
        names.append(message_type)
        names.extend(event_name(message_type, action) for action in actions if actions)
    return names


def subscribed(subscription: frozenset[str], message_type: str, action: str | None) -> bool:
    return (
        EVERYTHING in subscription
        or message_type in subscription
        or event_name(message_type, action) in subscription
    )
