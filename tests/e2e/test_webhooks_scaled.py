"""Two server processes on PostgreSQL + Redis deliver one workspace's webhooks: each
event is sent once, by one of them (fan-out and attempts are claimed, not shared)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import User
from tests.e2e.servers import Server
from tests.webhooks.receiver import Receiver, verify

pytestmark = pytest.mark.scaled
EVENTS = 20


async def test_two_processes_send_each_event_once(tmp_path: Path) -> None:
    async with Receiver() as receiver:
        # Started and stopped off the loop: the receiver, on this loop, answers meanwhile.
        a, b = Server(tmp_path / "a"), Server(tmp_path / "b")
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        try:
            async with a.api() as on_a, b.api() as on_b:
                owner = await on_a.user()
                ws = await owner.workspace("Two")
                r = await owner.post(
                    f"/workspaces/{ws}/webhooks", json={"url": receiver.url, "event_types": ["*"]}
                )
                secret = r.json()["secret"]
                via_b = User(on_b.client, owner.token, owner.refresh, owner.username, owner.id)
                for i in range(EVENTS):  # every other change through the other process
                    await (owner if i % 2 else via_b).task(ws, title=f"task {i}")
                await receiver.wait_for(lambda: len(receiver.received) >= EVENTS, timeout=60)
        finally:  # stopped while the receiver listens: a late second send would be seen
            await asyncio.gather(asyncio.to_thread(a.stop), asyncio.to_thread(b.stop))
    ids = [r.id for r in receiver.received]
    assert len(ids) == len(set(ids)) == EVENTS, ids  # no attempt sent twice
    assert sorted(r.json["seq"] for r in receiver.received) == list(range(1, EVENTS + 1))
    assert all(verify(secret, r) for r in receiver.received)
