"""A webhook receiver on 127.0.0.1 for tests: a few lines of HTTP/1.1 on asyncio streams.

It records every request, answers with the statuses it is told (then `default`), and can
hold requests unanswered (`hold`) to keep an attempt on its way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    dropped: bool = False  # the sender closed the connection before it was answered

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def verify(secret: str, received: Received, tolerance_s: float = 300) -> bool:
    """The README's recipe: HMAC-SHA256 of `timestamp.body`, and a recent timestamp."""
    parts = dict(p.split("=", 1) for p in received.headers["webhook-signature"].split(","))
    timestamp = received.headers["webhook-timestamp"]
    if parts.get("t") != timestamp or abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[Answer] = []  # the next requests' answers, in order
        self.default = Answer(200)
        self.hold: asyncio.Event | None = None  # while set and not fired: no answers
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.hold is not None:
            self.hold.set()
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5)

    def of(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.json["type"] == event_type]

    async def wait_for(
        self, condition: Callable[[], bool], timeout: float = 30.0, what: str = "requests"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                seen = [(r.id, r.json.get("type")) for r in self.received]
                raise AssertionError(f"timed out waiting for {what}; received {seen}")
            await asyncio.sleep(0.02)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            received = Received(head[0].split(" ")[1], headers, body)
            self.received.append(received)
            answer = self.answers.pop(0) if self.answers else self.default
            if self.hold is not None and not self.hold.is_set():
                received.dropped = await _dropped_while(self.hold, reader)
                if received.dropped:
                    return
            await asyncio.sleep(answer.delay_s)
            extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
            writer.write(
                f"HTTP/1.1 {answer.status} Status\r\nContent-Type: text/plain\r\n{extra}"
                f"Content-Length: 6\r\nConnection: close\r\n\r\nanswer".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _dropped_while(hold: asyncio.Event, reader: asyncio.StreamReader) -> bool:
    """Wait until `hold` fires; True if the sender closed the connection first."""
    released = asyncio.ensure_future(hold.wait())
    eof = asyncio.ensure_future(reader.read(1))
    done, pending = await asyncio.wait({released, eof}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return eof in done and not eof.exception() and eof.result() == b""
