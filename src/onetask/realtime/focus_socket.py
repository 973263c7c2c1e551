"""The focus-session socket: presence (joining and leaving by opening and closing sockets)
and the client messages `status_change` and `set_task`.

Opening a focus socket makes you a participant: the user's first socket joins the session
(`participant_joined`, unless they already were one), and when their last socket has been
closed for `presence_grace_s` they leave it (`participant_left`). Both transitions are
changes of the participant row made under the session's row lock, so each is emitted once
however many tabs and processes race.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.config import Settings
from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import FocusSession, User
from onetask.errors import OneTaskError
from onetask.events.channels import focus_channel
from onetask.events.client_messages import SetTask, StatusChange
from onetask.focus import repository
from onetask.focus import service as focus
from onetask.focus.schemas import ParticipantPatch
from onetask.focus.timer import ENDED
from onetask.realtime.connection import Connection, error_frame
from onetask.realtime.presence import Presence, create_presence

log = logging.getLogger("onetask.focus.ws")
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Connection, dict[str, Any]], Awaitable[None]]


class FocusLive:
    """Process-wide: the presence store and the pending grace-period checks."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.presence: Presence = create_presence(settings.broker_url, settings.broker_namespace)
        self.grace_s = settings.presence_grace_s
        self.stopping = False
        self.local: Counter[tuple[str, int]] = Counter()  # sockets held by this process
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.presence.start()

    async def stop(self) -> None:
        self.stopping = True
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await self.presence.close()

    async def admit(self, session: AsyncSession, raw_id: str, user: User) -> FocusSocket:
        fs = await focus.visible(session, raw_id, user.id)
        return FocusSocket(self, fs.id, fs.workspace_id)

    def later(self, work: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        task.set_name(name)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


class FocusSocket:
    """One socket's part in one focus session."""

    def __init__(self, live: FocusLive, pk: int, workspace_id: int) -> None:
        self.live = live
        self.pk = pk
        self.workspace_id = workspace_id
        self.room = focus_channel(pk)
        self.socket_id = uuid.uuid4().hex
        self.arrived = False

    @property
    def handlers(self) -> dict[str, Handler]:
        return {"status_change": self.status_change, "set_task": self.set_task}

    async def on_open(self, conn: Connection) -> None:
        try:
            # Counted present before taking the session lock to join: see leave_if_absent.
            await self.live.presence.arrive(self.room, conn.user_id, self.socket_id)
            self.arrived = True
            self.live.local[(self.room, conn.user_id)] += 1
            ended = not await self._change(conn, self._join)
        except Exception as exc:  # Redis (presence) or the database is down: an outage
            log.warning("could not join focus session %s: %r", self.pk, exc)
            conn.close(1011, "unavailable", "Could not join the session; reconnect shortly.")
            return
        if ended:
            conn.close(1000, None)  # after the replay, if any: nothing more will come

    async def on_close(self, conn: Connection) -> None:
        if not self.arrived:
            return
        key = (self.room, conn.user_id)
        self.live.local[key] -= 1
        if self.live.local[key] <= 0:
            del self.live.local[key]
        try:
            await self.live.presence.depart(self.room, conn.user_id, self.socket_id)
        except Exception:
            log.warning("could not record a focus socket closing; its entry will expire")
        if not self.live.stopping:
            self.live.later(self._leave_after_grace(conn.user_id), f"focus-grace:{self.pk}")

    async def _leave_after_grace(self, user_id: int) -> None:
        await asyncio.sleep(self.live.grace_s)
        present_elsewhere = await self._leave_if_absent(user_id)
        stale_after = self.live.presence.entry_ttl_s
        if present_elsewhere and stale_after is not None:
            # Another process holds a socket, and will check when it closes; unless that
            # process died, in which case its entry expires: look once more after that.
            await asyncio.sleep(stale_after)
            await self._leave_if_absent(user_id)

    async def _leave_if_absent(self, user_id: int) -> bool:
        """Leave unless present; True when present on another process only."""
        present = False

        async def is_present() -> bool:
            nonlocal present
            present = await self.live.presence.count(self.room, user_id) > 0
            return present

        try:
            async with self.live.database.session(write=True) as session:
                if await focus.leave_if_absent(session, self.pk, user_id, is_present):
                    await uow.commit(session)
        except Exception:
            log.exception("could not record user %s leaving focus session %s", user_id, self.pk)
        return present and self.live.local[(self.room, user_id)] <= 0

    async def status_change(self, conn: Connection, body: dict[str, Any]) -> None:
        message = _parse(conn, StatusChange, body)
        if message is not None:
            await self._patch(conn, ParticipantPatch(status=message.status))

    async def set_task(self, conn: Connection, body: dict[str, Any]) -> None:
        message = _parse(conn, SetTask, body)
        if message is not None:
            await self._patch(conn, ParticipantPatch(current_task_id=message.task_id))

    async def _patch(self, conn: Connection, patch: ParticipantPatch) -> None:
        async def apply(session: AsyncSession, fs: FocusSession, user: User) -> None:
            await focus.update_me(session, fs, user, patch)

        try:
            if not await self._change(conn, apply):
                conn.push(0, error_frame("conflict", "The focus session is over."))
        except OneTaskError as exc:
            conn.push(0, error_frame(exc.slug.replace("-", "_"), exc.detail))
        except Exception:
            log.exception("focus message failed on session %s", self.pk)
            conn.push(0, error_frame("unavailable", "Could not apply that; try again."))

    async def _change(
        self,
        conn: Connection,
        apply: Callable[[AsyncSession, FocusSession, User], Awaitable[object]],
    ) -> bool:
        """Run `apply` under the session lock and commit; False if the session is gone or over
        (and `apply` was not run)."""
        async with self.live.database.session(write=True) as session:
            fs = await repository.get(session, self.pk, for_update=True)
            user = await repository.user(session, conn.user_id)
            if fs is None or user is None or fs.status in ENDED:
                return False
            await apply(session, fs, user)
            await uow.commit(session)
            return True

    async def _join(self, session: AsyncSession, fs: FocusSession, user: User) -> None:
        await focus.join(session, fs, user)


def _parse(conn: Connection, model: type[M], body: dict[str, Any]) -> M | None:
    """The client message as its model (strict: "456" is not a task id), or an error sent."""
    try:
        return model.model_validate(body, strict=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors()[:3]
        )
        conn.push(0, error_frame("invalid_field", problems))
        return None
