"""Clients that behave the way the integration guide tells frontends to behave."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import websockets


@dataclass
class Follower:
    """A channel subscriber that, whenever its connection drops, reconnects with
    `since=<last seq it saw>` to whichever server answers, preferring `urls[0]`.

    Every `seq` received is recorded as it came (duplicates included), so a test can
    assert exactly-once, in-order delivery."""

    urls: list[str]
    path: str
    token: str
    seqs: list[int] = field(default_factory=list)
    titles: set[str] = field(default_factory=set)
    drops: list[int | None] = field(default_factory=list)  # close code, None = no frame
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    target: int | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def done(self) -> bool:
        return self.target is not None and self.last >= self.target

    async def run(self) -> None:
        attempt = 0
        while not self.done():
            url = self.urls[attempt % len(self.urls)]
            attempt += 1
            try:
                await self._session(url)
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                await asyncio.sleep(0.1)  # that server is gone; try the next one

    async def _session(self, url: str) -> None:
        query = f"token={self.token}&since={self.last}"
        async with websockets.connect(f"{url}/api/v1/ws/{self.path}?{query}") as ws:
            try:
                while not self.done():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    self._take(orjson.loads(raw))
            except websockets.ConnectionClosed as closed:
                self.drops.append(closed.rcvd.code if closed.rcvd else None)

    def _take(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connected":
            self.connected.set()
        elif kind == "task_update":
            self.seqs.append(message["seq"])
            self.titles.add(message["data"]["title"])
        else:
            self.unexpected.append(message)


@dataclass
class Writers:
    """`count` writers, each creating one task and renaming it `changes - 1` times,
    over REST, through the servers in turn; a write whose server is gone is retried on
    the next one. `acknowledged` holds every title a server confirmed."""

    urls: list[str]
    token: str
    workspace_id: int
    count: int = 4
    changes: int = 30
    acknowledged: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.count * self.changes

    async def run(self) -> None:
        await asyncio.gather(*(self._writer(n) for n in range(self.count)))

    async def _writer(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=15, headers=headers) as client:
            task_id: int | None = None
            for i in range(self.changes):
                title = f"w{n}.{i}"
                if task_id is None:
                    body = await self._write(
                        client, n + i, "POST", f"/workspaces/{self.workspace_id}/tasks", title
                    )
                    task_id = int(body["id"])
                else:
                    await self._write(client, n + i, "PATCH", f"/tasks/{task_id}", title)
                self.acknowledged.append(title)

    async def _write(
        self, client: httpx.AsyncClient, turn: int, method: str, path: str, title: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            url = self.urls[turn % len(self.urls)]
            turn += 1
            try:
                r = await client.request(method, f"{url}/api/v1{path}", json={"title": title})
            except httpx.TransportError as exc:
                self.failures.append(f"{method} {url}{path}: {type(exc).__name__}")
                assert time.monotonic() < deadline, self.failures[-5:]
                await asyncio.sleep(0.05)
                continue
            if r.status_code >= 500:
                self.server_errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
                assert time.monotonic() < deadline, self.server_errors[-5:]
                await asyncio.sleep(0.1)
                continue
            assert r.status_code in (200, 201), r.text
            body: dict[str, Any] = r.json()
            return body


async def channel_head(url: str, path: str, token: str, at_least: int = 0) -> int:
    """The channel's latest seq, as a server's `connected` message reports it, once it
    is `at_least` that: a process learns of another's last commit through the broker,
    a moment after that commit was acknowledged (within 10 s, or this fails)."""
    deadline = time.monotonic() + 10
    while True:
        async with websockets.connect(f"{url}/api/v1/ws/{path}?token={token}") as ws:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["type"] == "connected", message
        seq = int(message["data"]["seq"])
        if seq >= at_least:
            return seq
        assert time.monotonic() < deadline, f"the head stayed at {seq}, below {at_least}"
        await asyncio.sleep(0.1)
