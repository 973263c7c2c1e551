"""The WebSocket contract as an AsyncAPI 3.0 document (served at GET /asyncapi.json).

Every payload schema is generated from the wire models the server encodes
(events/messages.py) and the client messages it accepts (events/client_messages.py),
so the document cannot drift from what is actually sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

from onetask import __version__
from onetask.events import client_messages as client
from onetask.events import messages as server
from onetask.events.close_codes import CLOSE_CODES

SCHEMAS = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Message:
    id: str
    model: type[BaseModel]
    summary: str


SERVER_MESSAGES = {
    m.id: m
    for m in (
        Message("connected", server.Connected, "First message on every connection."),
        Message("taskUpdate", server.TaskUpdate, "A task of the workspace changed."),
        Message(
            "workspaceUpdate",
            server.WorkspaceUpdate,
            "The workspace was renamed or described, or a member was added, changed role or left.",
        ),
        Message("notification", server.NotificationMessage, "A new notification for you."),
        Message(
            "notificationRead",
            server.NotificationRead,
            "Notifications were marked read (on any of your devices).",
        ),
        Message("focusUpdate", server.FocusUpdate, "Something happened in the focus session."),
        Message("pong", server.Pong, "Answer to ping."),
        Message(
            "authOk",
            server.AuthOk,
            "Answer to a valid `auth`: the connection now lasts until `expires_at`. An "
            "invalid one gets an `error` (code invalid_token) and the old expiry stands.",
        ),
        Message(
            "error",
            server.Error,
            "A client message was refused (connection stays open), or the connection "
            "is refused/closed right after this message (see x-close-codes).",
        ),
        Message(
            "resyncRequired",
            server.ResyncRequired,
            "`since` cannot be replayed; `reason` says why and `x-resync-reasons` what to do. "
            "The live stream follows it.",
        ),
    )
}
# Each `resync_required` reason the server sends: when, and what a client should do.
RESYNC_REASONS = {
    "history_expired": (
        "`since` is older than the kept history.",
        "Reload the channel's state over REST, then carry on from `seq`.",
    ),
    "before_membership": (
        "`since` is from before you joined the workspace: a member's history starts at "
        "their membership.",
        "Load the tasks over REST, then carry on from `seq`.",
    ),
    "ahead_of_server": (
        "`since` is above the channel's newest seq: the server's database was reset or "
        "restored, or the seq came from another channel or server.",
        "Drop what you cached for the channel, reload over REST, then carry on from `seq` "
        "(the server's newest).",
    ),
}
CLIENT_MESSAGES = {
    m.id: m
    for m in (
        Message("ping", client.Ping, "Any channel; the server answers with pong."),
        Message("auth", client.Auth, "Any channel; replace the token before it expires."),
        Message("statusChange", client.StatusChange, "Focus channel; set your status."),
        Message("setTask", client.SetTask, "Focus channel; the task you are working on."),
    )
}

COMMON_SENT = ["connected", "pong", "authOk", "error", "resyncRequired"]
COMMON_RECEIVED = ["ping", "auth"]


@dataclass(frozen=True)
class Channel:
    id: str
    address: str
    description: str
    sent: list[str]
    received: list[str]
    parameters: dict[str, dict[str, Any]]


CHANNELS = [
    Channel(
        "notifications",
        "/api/v1/ws/notifications",
        "Your own notifications. Any authenticated user.",
        ["notification", "notificationRead", *COMMON_SENT],
        COMMON_RECEIVED,
        {},
    ),
    Channel(
        "workspaceTasks",
        "/api/v1/ws/workspaces/{workspace_id}/tasks",
        "Every task change of one workspace, and its workspace and member changes. "
        "Members of that workspace.",
        ["taskUpdate", "workspaceUpdate", *COMMON_SENT],
        COMMON_RECEIVED,
        {
            "workspace_id": {
                "description": "Workspace id, ASCII digits (anything else: close 4404).",
                "examples": ["789"],
            }
        },
    ),
    Channel(
        "focusSession",
        "/api/v1/ws/focus-sessions/{session_id}",
        "One collaborative focus session. Members of the session's workspace.",
        ["focusUpdate", *COMMON_SENT],
        [*COMMON_RECEIVED, "statusChange", "setTask"],
        {
            "session_id": {
                "description": "Focus session id, `focus-<n>`.",
                "examples": ["focus-123"],
            }
        },
    ),
]

QUERY = {
    "type": "object",
    "properties": {
        "token": {
            "type": "string",
            "description": "Access token from POST /api/v1/auth/login, or a personal API "
            "token (`ot_…`, read scope suffices) (required). Missing, invalid, expired or "
            "revoked: an error message, then close 4401.",
        },
        "since": {
            "type": "string",
            "pattern": "^[0-9]{1,18}$",
            "description": "Last `seq` you saw on this channel: every later event is replayed "
            "in order, once, before the live stream. Not ASCII digits: close 4400. Not "
            "replayable (older than the kept history, from before you joined the workspace, or "
            "ahead of the server): "
            "resync_required (see x-resync-reasons).",
        },
    },
    "required": ["token"],
}


class WireSchema(GenerateJsonSchema):
    """The server always encodes every field (defaults included), so a client may rely on
    each one being present: in serialization mode every field is required."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)


def payload_schemas() -> dict[str, Any]:
    """JSON Schemas of every message, as components/schemas (refs point there)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m.model, "serialization") for m in SERVER_MESSAGES.values()
    ] + [(m.model, "validation") for m in CLIENT_MESSAGES.values()]
    _, top = models_json_schema(models, ref_template=SCHEMAS, schema_generator=WireSchema)
    schemas: dict[str, Any] = top.get("$defs", {})
    for message in CLIENT_MESSAGES.values():  # a client must say what it sends
        required = schemas[message.model.__name__].setdefault("required", [])
        required[:0] = [] if "type" in required else ["type"]
    return schemas


def _message(message: Message) -> dict[str, Any]:
    name = message.model.__name__
    return {
        "name": message.model.model_fields["type"].default,
        "title": name,
        "summary": message.summary,
        "contentType": "application/json",
        "payload": {"$ref": SCHEMAS.format(model=name)},
    }


def _channel(channel: Channel) -> dict[str, Any]:
    body: dict[str, Any] = {
        "address": channel.address,
        "description": channel.description,
        "messages": {
            m: {"$ref": f"#/components/messages/{m}"} for m in channel.sent + channel.received
        },
        "bindings": {"ws": {"method": "GET", "query": QUERY, "bindingVersion": "0.1.0"}},
    }
    if channel.parameters:
        body["parameters"] = channel.parameters
    return body


def _operations(channel: Channel) -> dict[str, Any]:
    def refs(ids: list[str]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{channel.id}/messages/{m}"} for m in ids]

    suffix = channel.id[0].upper() + channel.id[1:]
    return {
        f"send{suffix}": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel.id}"},
            "summary": "Server to client.",
            "messages": refs(channel.sent),
        },
        f"receive{suffix}": {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel.id}"},
            "summary": "Client to server.",
            "messages": refs(channel.received),
        },
    }


def document(host: str = "127.0.0.1:8000", protocol: str = "ws") -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for channel in CHANNELS:
        operations.update(_operations(channel))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "OneTask real-time API",
            "version": __version__,
            "description": "The three WebSocket endpoints of the integration guide. Each "
            "event carries `seq` (1, 2, 3… per channel); reconnect with `&since=<seq>` to "
            "get what you missed. Refusals are one `error` message, then a close code from "
            "`x-close-codes` (any other path under /api/v1/ws/: 4404, the `error` naming "
            "these three); every close frame carries its meaning as the reason. Test page: "
            "/ws-test.",
        },
        "defaultContentType": "application/json",
        "servers": {"this": {"host": host, "protocol": protocol, "description": "This server."}},
        "channels": {c.id: _channel(c) for c in CHANNELS},
        "operations": operations,
        "components": {
            "messages": {
                id: _message(m) for id, m in {**SERVER_MESSAGES, **CLIENT_MESSAGES}.items()
            },
            "schemas": payload_schemas(),
        },
        "x-close-codes": [
            {"code": c.code, "meaning": c.meaning, "clientShould": c.advice, "action": c.action}
            for c in CLOSE_CODES.values()
        ],
        "x-resync-reasons": [
            {"reason": reason, "meaning": meaning, "clientShould": advice}
            for reason, (meaning, advice) in RESYNC_REASONS.items()
        ],
    }
