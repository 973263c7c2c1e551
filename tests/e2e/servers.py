"""Real server processes on free loopback ports, and a WebSocket client for tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import Api, backend_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {**os.environ, **backend_env(data_dir, **env)}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def argv(self, workers: int) -> list[str]:
        """The server's command line: `onetask serve`."""
        return [
            sys.executable,
            "-m",
            "onetask.cli",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]

    def start(self, timeout: float = 30.0, workers: int = 1) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(workers),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()  # not left running behind the failed test
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    @asynccontextmanager
    async def api(self) -> AsyncIterator[Api]:
        """A REST client for this server."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            yield Api(client)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`onetask ARGS` with only the given ONETASK_* settings; waits for it to exit."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ONETASK_")}
    clean.update({"ONETASK_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-m", "onetask.cli", *args],
        env=clean, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def module_server(name: str, **env: str) -> Callable[..., Iterator[Server]]:
    """A module-scoped fixture: one server process with these ONETASK_* settings."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        server = Server(tmp_path_factory.mktemp(name), **env).start()
        yield server
        server.stop()

    return fixture


def silent_socket(port: int, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    raw.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b" 101 " in raw.recv(1024)
    return raw


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data` as is (no client library to normalise it) and read until the server
    closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        raw.sendall(data)
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
        return received


class Socket:
    """A WebSocket client that records everything it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.close_reason = ""  # the server's close frame's reason, once closed_with returns

    @classmethod
    async def open(cls, base: str, path: str, token: str, **params: Any) -> Socket:
        query = "&".join([f"token={token}"] + [f"{k}={v}" for k, v in params.items()])
        ws = await websockets.connect(f"{base}/api/v1/ws/{path}?{query}", max_size=2**22)
        return cls(ws)

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        message: dict[str, Any] = orjson.loads(raw)
        return message

    async def recv_type(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if message["type"] == kind:
                return message

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else orjson.dumps(message).decode())

    async def closed_with(self, timeout: float = 10.0) -> tuple[int, list[dict[str, Any]]]:
        """Read until the server closes; return the close code and what came before."""
        seen: list[dict[str, Any]] = []
        try:
            while True:
                seen.append(await self.recv(timeout))
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            self.close_reason = closed.rcvd.reason
            return closed.rcvd.code, seen

    async def nothing_for(self, seconds: float) -> None:
        try:
            message = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message: {message!r}")

    async def close(self) -> None:
        await self.ws.close()


class RawPeer:
    """A WebSocket client driven at the frame level: it never answers the server's pings
    (a frozen or vanished client, as the server sees one) and sends only what it is told.
    Everything received is kept as raw bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received = b""
        self.eof = False

    @classmethod
    async def open(cls, port: int, path: str) -> RawPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert b" 101 " in head, head
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        """One masked text frame (the zero mask key leaves the payload as it is)."""
        payload = text.encode()
        assert len(payload) < 126
        self.writer.write(bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload)

    async def read_for(self, seconds: float) -> None:
        """Keep what arrives within `seconds`, or until the server hangs up."""
        deadline = time.monotonic() + seconds
        while not self.eof and (left := deadline - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(self.reader.read(1 << 16), left)
            except TimeoutError:
                return
            except ConnectionResetError:
                chunk = b""
            self.received += chunk
            self.eof = chunk == b""

    @staticmethod
    def close_frame(code: int, reason: str) -> bytes:
        """The close frame the server sends with `code` and `reason` (unmasked)."""
        payload = code.to_bytes(2, "big") + reason.encode()
        return bytes((0x88, len(payload))) + payload

    def close(self) -> None:
        self.writer.close()
