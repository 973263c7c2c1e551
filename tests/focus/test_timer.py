"""The server-owned clock: transitions are claimed once, however many processes race."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
from fastapi import FastAPI
from sqlalchemy import select, update

from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import Event, FocusSession
from onetask.db.types import utcnow
from onetask.events.channels import focus_channel
from onetask.focus import service
from tests.conftest import Api


async def _due_now(database: Database, pk: int) -> None:
    async with database.session(write=True) as session:
        await session.execute(
            update(FocusSession).where(FocusSession.id == pk).values(phase_ends_at=utcnow())
        )
        await uow.commit(session)


async def _advance(database: Database, pk: int) -> bool:
    async with database.session(write=True) as session:
        if await service.advance(session, pk):
            await uow.commit(session)
            return True
        await uow.rollback(session)
        return False


async def _actions(database: Database, pk: int) -> list[dict[str, Any]]:
    async with database.session(write=False) as session:
        rows = await session.execute(
            select(Event.message).where(Event.channel == focus_channel(pk)).order_by(Event.seq)
        )
        return [orjson.loads(m) for m in rows.scalars()]


async def test_racing_advances_emit_each_transition_once(api: Api, app: FastAPI) -> None:
    database: Database = app.state.database
    alice = await api.user()
    fs = await alice.post(
        "/focus-sessions",
        json={"workspace_id": await alice.workspace(), "title": "t", "cycles": 2},
    )
    public_id = fs.json()["id"]
    pk = service.parse_id(public_id)
    await alice.post(f"/focus-sessions/{public_id}/start")
    expected = [("break", 1), ("work", 2)]
    for phase, cycle in expected:
        await _due_now(database, pk)
        results = await asyncio.gather(*(_advance(database, pk) for _ in range(4)))
        assert sum(results) <= 1  # the app's own scheduler may have won the race
        body = (await alice.get(f"/focus-sessions/{public_id}")).json()
        assert (body["phase"], body["cycle"], body["status"]) == (phase, cycle, "running")
    await _due_now(database, pk)
    await asyncio.gather(*(_advance(database, pk) for _ in range(4)))
    body = (await alice.get(f"/focus-sessions/{public_id}")).json()
    assert body["status"] == "completed" and body["ended_at"] is not None
    messages = await _actions(database, pk)
    assert [m["action"] for m in messages] == [
        "timer_changed",
        "phase_changed",
        "phase_changed",
        "session_ended",
    ]
    assert [(m["data"]["timer"]["phase"], m["data"]["timer"]["cycle"]) for m in messages[1:3]] == (
        expected
    )
    assert [m["seq"] for m in messages] == [1, 2, 3, 4]


async def test_a_phase_starts_where_the_last_one_ended(api: Api, app: FastAPI) -> None:
    database: Database = app.state.database
    alice = await api.user()
    body = {"workspace_id": await alice.workspace(), "title": "t", "break_minutes": 3}
    public_id = (await alice.post("/focus-sessions", json=body)).json()["id"]
    pk = service.parse_id(public_id)
    await alice.post(f"/focus-sessions/{public_id}/start")
    boundary = utcnow() - timedelta(seconds=5)
    async with database.session(write=True) as session:
        await session.execute(
            update(FocusSession).where(FocusSession.id == pk).values(phase_ends_at=boundary)
        )
        await uow.commit(session)
    await _advance(database, pk)
    after = (await alice.get(f"/focus-sessions/{public_id}")).json()
    assert after["phase"] == "break"
    assert after["phase_started_at"] == boundary.isoformat().replace("+00:00", "Z")
    remaining = after["timer"]["remaining_s"]
    assert 170 < remaining < 176  # 3 minutes from the boundary, not from now
