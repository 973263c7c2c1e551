"""OneTask's task PATCH on the raw driver: what the change would cost without the stack.

The same work as `PATCH /api/v1/tasks/{id}` for a title, on the same SQLite database:
the access token checked by OneTask's own `decode_access_token`, the body parsed and
the title checked, then in one `BEGIN IMMEDIATE` transaction the same statements
OneTask runs (the task joined to the caller's membership and user row, the UPDATE, the
notification's INSERT … SELECT, the channel counters' upsert, the events' INSERT),
both frames and the response encoded once with orjson. What it leaves out is the stack
around that work: an ASGI callable instead of FastAPI (routing, dependency solving,
pydantic validation and serialization, middleware), `sqlite3` instead of SQLAlchemy
(statement caching, result processing, the ORM's identity map, greenlets), and no
relay hand-off after COMMIT (nobody is listening in `bench/rest_cost.py` either).

Not a server: `bench/rest_cost.py` measures it beside OneTask and the baseline's bare
endpoint, to put a number on "a change served without FastAPI and the SQLAlchemy ORM".
Only a title PATCH by the task's owner, with no assignee, is handled, which is what the
bench sends.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from onetask.auth.tokens import InvalidToken, decode_access_token

_SELECT = """
SELECT tasks.id, tasks.workspace_id, tasks.user_id, tasks.assignee_id, tasks.title,
       tasks.description, tasks.status, tasks.priority, tasks.due_date, tasks.completed_at,
       tasks.created_at, tasks.updated_at, tasks.deleted_at, tasks.version,
       users.id, users.username
FROM tasks
JOIN memberships ON memberships.workspace_id = tasks.workspace_id AND memberships.user_id = ?
JOIN users ON users.id = memberships.user_id
WHERE tasks.id = ?
"""
_UPDATE = "UPDATE tasks SET title = ?, updated_at = ?, version = ? WHERE tasks.id = ?"
_NOTIFY = """
INSERT INTO notifications (user_id, type, title, content, created_at, read,
                           related_entity_type, related_entity_id)
SELECT ?, ?, ?, ?, ?, ?, ?, ?
WHERE EXISTS (SELECT * FROM memberships WHERE workspace_id = ? AND user_id = ?)
  AND NOT EXISTS (SELECT * FROM notification_mutes WHERE user_id = ? AND type = ?)
RETURNING id
"""
_HEADS = """
INSERT INTO channel_heads (channel, last_seq, updated_at) VALUES (?, 1, ?), (?, 1, ?)
ON CONFLICT (channel) DO UPDATE
    SET last_seq = channel_heads.last_seq + excluded.last_seq,
        updated_at = excluded.updated_at
RETURNING channel, last_seq
"""
_EVENTS = "INSERT INTO events (channel, seq, message, final, created_at) VALUES (?, ?, ?, 0, ?)"


def _stored(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")  # what OneTask's UTCDateTime stores


def _wire(stored: str | None) -> str | None:
    return None if stored is None else stored.replace(" ", "T") + "Z"


class RawChange:
    def __init__(self, database: Path, signing_key: str) -> None:
        self.db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in ("foreign_keys=ON", "synchronous=NORMAL", "wal_autocheckpoint=0"):
            self.db.execute(f"PRAGMA {pragma}")  # as OneTask's connections (`db.engine`)
        self.key = signing_key

    def close(self) -> None:
        self.db.close()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        status, body = self.patch(scope, (await receive())["body"])
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def patch(self, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
        _, api, version, collection, task_id = scope["path"].split("/")
        if scope["method"] != "PATCH" or (api, version, collection) != ("api", "v1", "tasks"):
            return 404, b'{"title":"Not Found"}'
        authorization = dict(scope["headers"]).get(b"authorization", b"")
        try:
            claims = decode_access_token(authorization.removeprefix(b"Bearer ").decode(), self.key)
        except InvalidToken:
            return 401, b'{"title":"Unauthorized"}'
        title = orjson.loads(body).get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= 200:
            return 422, b'{"title":"Unprocessable Content"}'
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(_SELECT, (claims.user_id, int(task_id))).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return 404, b'{"title":"Not Found"}'
            (id_, workspace, owner, assignee, _, description, status, priority, due) = row[:9]
            completed, created, _, deleted, old_version, actor, actor_name = row[9:]
            if deleted is not None:
                db.execute("ROLLBACK")
                return 409, b'{"title":"Conflict"}'
            now = datetime.now(UTC)
            updated = _stored(now)
            db.execute(_UPDATE, (title, updated, old_version + 1, id_))
            content = f"You've updated '{title}'" if owner == actor else f"{actor_name} updated"
            notification = (owner, "task_updated", "Task Updated", content, updated, 0, "task")
            (notification_id,) = db.execute(
                _NOTIFY, (*notification, str(id_), workspace, owner, owner, "task_updated")
            ).fetchone()
            task = {
                "id": id_,
                "title": title,
                "description": description,
                "status": status,
                "priority": priority,
                "due_date": due,
                "workspace_id": workspace,
                "user_id": owner,
                "assignee_id": assignee,
                "version": old_version + 1,
                "actor_id": actor,
                "completed_at": _wire(completed),
                "created_at": _wire(created),
                "updated_at": _wire(updated),
                "deleted_at": _wire(deleted),
            }
            tasks_channel, inbox = f"workspace:{workspace}:tasks", f"user:{owner}:notifications"
            heads = dict(db.execute(_HEADS, (inbox, updated, tasks_channel, updated)).fetchall())
            message = {"type": "task_update", "action": "updated", "seq": heads[tasks_channel]}
            inbox_message = {
                "type": "notification",
                "seq": heads[inbox],
                "data": {
                    "id": notification_id,
                    "title": "Task Updated",
                    "content": content,
                    "created_at": _wire(updated),
                    "read": False,
                    "related_entity_type": "task",
                    "related_entity_id": id_,
                    "type": "task_updated",
                },
            }
            frame = orjson.dumps({**message, "data": task}).decode()
            events = [
                (inbox, heads[inbox], orjson.dumps(inbox_message).decode(), updated),
                (tasks_channel, heads[tasks_channel], frame, updated),
            ]
            db.executemany(_EVENTS, events)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return 200, orjson.dumps(task)
