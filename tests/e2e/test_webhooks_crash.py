"""Webhooks survive a SIGKILL of the sending server: every event is delivered at least
once after it restarts, and the receiver dedupes by `Webhook-Id`.

The receiver runs in this test's process; the server is a real process on the suite's
back end (tests/conftest.py: attempts time out after 2 s, a claim's lease is 3 s)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Api, User
from tests.e2e.servers import Server
from tests.webhooks.receiver import Receiver, verify

EVENTS = 6


async def _webhook(owner: User, ws: int, url: str) -> str:
    r = await owner.post(f"/workspaces/{ws}/webhooks", json={"url": url, "event_types": ["*"]})
    assert r.status_code == 201, r.text
    secret: str = r.json()["secret"]
    return secret


async def _started(server: Server) -> Server:
    """Start it off the loop: the receiver, on this loop, must answer meanwhile (the
    server's first attempts may come before it is ready)."""
    return await asyncio.to_thread(server.start)


def _check_every_event_once_deduped(receiver: Receiver, secret: str, titles: set[str]) -> None:
    """Deduped by `Webhook-Id`, the receiver has each event once: a retry is the same
    delivery (same id, same body), and no event came under two ids."""
    by_id: dict[str, bytes] = {}
    for r in receiver.received:
        assert verify(secret, r)
        assert by_id.setdefault(r.id, r.body) == r.body
    events = [receiver_json(body) for body in by_id.values()]
    seqs = [event["seq"] for event in events]
    assert len(seqs) == len(set(seqs)), seqs
    assert sorted(event["data"]["title"] for event in events) == sorted(titles)


def receiver_json(body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(body)
    return parsed


async def test_sigkill_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    async with Receiver() as receiver:
        receiver.hold = asyncio.Event()  # every attempt stays on its way until the kill
        doomed = await _started(Server(tmp_path))
        async with doomed.api() as api:
            owner = await api.user()
            ws = await owner.workspace("Crash")
            secret = await _webhook(owner, ws, receiver.url)
            titles = {f"task {i}" for i in range(EVENTS)}
            for title in sorted(titles):
                await owner.task(ws, title=title)
            await receiver.wait_for(lambda: len(receiver.received) >= 1, what="an attempt")
        await asyncio.to_thread(doomed.kill)
        await receiver.wait_for(
            lambda: any(r.dropped for r in receiver.received), what="the kill to drop a request"
        )
        receiver.hold.set()  # from now on every request is answered 200

        restarted = await _started(Server(tmp_path, port=doomed.port))
        try:
            await receiver.wait_for(
                lambda: (
                    {r.json["data"]["title"] for r in receiver.received if not r.dropped} == titles
                ),
                timeout=60,
                what="every event answered",
            )
        finally:
            await asyncio.to_thread(restarted.stop)
    dropped = {r.id for r in receiver.received if r.dropped}
    answered = {r.id for r in receiver.received if not r.dropped}
    assert dropped and dropped <= answered  # each attempt cut off by the kill came again
    _check_every_event_once_deduped(receiver, secret, titles)


async def test_sigkill_between_commit_and_fan_out_loses_nothing(tmp_path: Path) -> None:
    """The process dies right after committing the event, before anything else happens
    (ONETASK_FAULT_CRASH_AFTER_COMMIT): the restarted server finds the event in the log."""
    async with Receiver() as receiver:
        doomed = await _started(Server(tmp_path, ONETASK_FAULT_CRASH_AFTER_COMMIT="true"))
        async with httpx.AsyncClient(base_url=doomed.url, timeout=30) as client:
            owner = await Api(client).user()
            ws = await owner.workspace("Crash")
            secret = await _webhook(owner, ws, receiver.url)
            with pytest.raises(httpx.HTTPError):  # the process dies before it answers
                await owner.task(ws, title="committed, then the crash")
        assert doomed.process is not None and doomed.process.wait(10) == -9

        restarted = await _started(Server(tmp_path, port=doomed.port))
        try:
            await receiver.wait_for(lambda: len(receiver.received) >= 1, timeout=60)
        finally:
            await asyncio.to_thread(restarted.stop)
    _check_every_event_once_deduped(receiver, secret, {"committed, then the crash"})
