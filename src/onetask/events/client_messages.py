"""What a client may send (PRODUCT.md §4), one model per message type.

The AsyncAPI document publishes these as the `receive` side of each channel.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from onetask.events.messages import WireModel
from onetask.inputs import MAX_ID

ParticipantStatus = Literal["active", "on_break", "away"]


class Ping(WireModel):
    """Any channel: answered with `pong`."""

    type: Literal["ping"] = "ping"


class Auth(WireModel):
    """Any channel: replace the connection's access token before it expires."""

    type: Literal["auth"] = "auth"
    token: str = Field(min_length=1)


class StatusChange(WireModel):
    """Focus channel: set your participant status; broadcast to the session."""

    type: Literal["status_change"] = "status_change"
    status: ParticipantStatus


class SetTask(WireModel):
    """Focus channel: the task you are working on (a task of the session's workspace),
    or null for none."""

    type: Literal["set_task"] = "set_task"
    task_id: Annotated[int, Field(gt=0, le=MAX_ID)] | None  # larger names no task


AnyChannelClientMessage = Ping | Auth
FocusClientMessage = Ping | Auth | StatusChange | SetTask
