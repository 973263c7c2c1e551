"""The floor: what one write per subscriber costs in Python with nothing else around it.

No framework, no ASGI, no database: a uvloop server that answers the WebSocket
handshake by hand and, on each PATCH, frames the same task_update as the baseline once
and calls `transport.write(frame)` for every socket (what picows-style servers do). No
server that writes each subscriber's socket once per event can use much less CPU per
delivery than this on the same machine; the harness prints it beside OneTask and the
baseline. Run: `python bench/floor_app.py PORT`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import resource
import struct
import sys

import uvloop
from baseline_app import task_update  # the same message, byte for byte in shape

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
subscribers: set[asyncio.Transport] = set()
state = {"seq": 0}


def text_frame(text: str) -> bytes:
    payload = text.encode()
    if len(payload) < 126:
        return bytes((0x81, len(payload))) + payload
    return struct.pack("!BBH", 0x81, 126, len(payload)) + payload


def response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


class Peer(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.websocket = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            subscribers.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.websocket:
            return  # pongs and the like: nothing to answer
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            }
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.handle(lines[0], headers, body)
            if self.websocket:
                return

    def handle(self, request_line: str, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        method, target, _ = request_line.split(" ", 2)
        if headers.get("upgrade", "").lower() == "websocket":
            key = headers["sec-websocket-key"].encode()
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
            self.transport.write(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                ).encode()
            )
            channel = target.split("?")[0].split("/")[-2]
            connected = {"type": "connected", "data": {"channel": f"workspace:{channel}:tasks"}}
            self.transport.write(text_frame(json.dumps(connected, separators=(",", ":"))))
            self.websocket = True
            subscribers.add(self.transport)
        elif method == "PATCH":
            state["seq"] += 1
            title = json.loads(body or b"{}").get("title", "A task")
            frame = text_frame(task_update(state["seq"], title))
            for transport in subscribers:
                transport.write(frame)
            self.transport.write(response("200 OK", b'{"seq":%d}' % state["seq"]))
        else:
            self.transport.write(response("200 OK", b"{}"))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Peer, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(main(int(sys.argv[1])))
