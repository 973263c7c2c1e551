"""Headless Chromium driven over the Chrome DevTools Protocol, with nothing but `websockets`.

Debian's `chromium` package (scripts/install-browser); nothing is downloaded at test time.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.e2e.servers import free_port

CHROMIUM = os.environ.get("ONETASK_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1400,1000",
]


def skip_outside_ci(message: str) -> NoReturn:
    """Skip a test whose prerequisite is missing; under CI, where nothing may be skipped,
    fail it instead."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def require_chromium() -> str:
    """The browser's path; without one, fail under CI (never skip there), else skip."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    skip_outside_ci(
        f"{CHROMIUM} is missing: run scripts/install-browser (Debian's chromium package)"
    )


class JsError(AssertionError):
    pass


class Page:
    """One tab: evaluate JavaScript, wait for conditions, take screenshots."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []
        # Once `watch_network()` is called: every request the page started, by id, and
        # the ids the browser refused to send (a Content-Security-Policy block).
        self.requested: dict[str, str] = {}
        self.blocked: set[str] = set()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)
            elif message.get("method") == "Runtime.consoleAPICalled":
                args = message["params"]["args"]
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.console.append(f"EXCEPTION {details.get('exception', details)}")
            elif message.get("method") == "Network.requestWillBeSent":
                params = message["params"]
                self.requested[params["requestId"]] = params["request"]["url"]
            elif message.get("method") == "Network.loadingFailed" and message["params"].get(
                "blockedReason"
            ):
                self.blocked.add(message["params"]["requestId"])

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[id] = future
        await self.ws.send(json.dumps({"id": id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise JsError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def watch_network(self) -> None:
        await self.call("Network.enable")

    def requests_outside(self, origin: str) -> list[str]:
        """URLs the page fetched from anywhere but `origin` (inline data excepted)."""
        return [
            url
            for id, url in self.requested.items()
            if id not in self.blocked and not url.startswith((origin + "/", "data:", "blob:"))
        ]

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def eval(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise JsError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll a JavaScript condition until it is truthy; fail with the console if not."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.eval(expression)
            except JsError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {expression!r}; console:\n" + "\n".join(self.console)
                )
            await asyncio.sleep(0.1)

    async def fill(self, selector: str, value: str) -> None:
        await self.eval(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)}); "
            f"el.value = {json.dumps(value)}; "
            "el.dispatchEvent(new Event('input', {bubbles: true})); "
            "el.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )

    async def click(self, selector: str) -> None:
        await self.eval(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        _save(path, base64.b64decode(shot["data"]))


@asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    binary = require_chromium()
    port = free_port()
    profile = tempfile.mkdtemp(prefix="onetask-chromium-")
    log = Path(profile) / "chromium.log"
    process = _launch(binary, port, profile, log)
    try:
        target = await _page_target(port, process, log)
        async with websockets.connect(target, max_size=None) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            await page.call("Runtime.enable")
            try:
                yield page
            finally:
                page.reader.cancel()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _page_target(port: int, process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited early:\n{_tail(log)}")
            try:
                targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
            except httpx.HTTPError:
                targets = []
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
            await asyncio.sleep(0.1)
    raise RuntimeError(f"chromium's DevTools did not come up:\n{_tail(log)}")


def _launch(binary: str, port: int, profile: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


Resolve = Callable[[str], tuple[bytes, str] | None]


@contextmanager
def serve_static(resolve: Resolve) -> Iterator[str]:
    """A tiny static site on a loopback port, as a frontend developer's page would be:
    `resolve(path)` gives a GET's body and content type, or None for a 404. Yields the
    site's origin (no trailing slash)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = resolve(self.path.split("?")[0])
            if found is None:
                self.send_error(404)
                return
            body, kind = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
