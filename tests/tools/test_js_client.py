"""onetask-client (clients/js) in headless Chromium against a real server process.

A page on its own origin (as a frontend dev server would be) imports the built ESM package
(clients/js/dist, from `scripts/js` or `npm run build`) and talks to the server across
origins, allowed by ONETASK_CORS_ORIGINS as the README's frontend quick start says.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Api, User
from tests.e2e.servers import Server
from tests.tools.browser import Page, chromium, serve_static, skip_outside_ci

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "js"
DIST = PACKAGE / "dist"


def npm_script(*args: str) -> subprocess.CompletedProcess[str]:
    """`node scripts/…` in clients/js, once its dev dependencies are installed (scripts/js)."""
    node = shutil.which("node")
    if node is None or not (PACKAGE / "node_modules").is_dir():
        skip_outside_ci("node or clients/js/node_modules is missing: run scripts/js")
    return subprocess.run(
        [node, *args], cwd=PACKAGE, capture_output=True, text=True, timeout=120, check=False
    )


def test_generated_protocol_is_current() -> None:
    """clients/js/src/generated/protocol.ts is what scripts/generate.mjs makes of the
    AsyncAPI document this checkout serves (wire types, close codes, resync reasons)."""
    result = npm_script("scripts/generate.mjs", "--check")
    assert result.returncode == 0, result.stderr + result.stdout


def test_ws_test_page_bundles_the_current_package() -> None:
    """The /ws-test page's inline onetask-client is the bundle of the package as built."""
    if not (DIST / "index.js").exists():
        skip_outside_ci(f"{DIST} is not built: run scripts/js (or npm run build in clients/js)")
    result = npm_script("scripts/bundle-page.mjs", "--check")
    assert result.returncode == 0, result.stderr + result.stdout


HARNESS = """<!doctype html><meta charset="utf-8"><title>onetask-client e2e</title>
<script type="module">
import * as OneTask from "/onetask-client/index.js";
window.opened = [];  // every socket URL the client opened
class CountingWebSocket extends WebSocket {
  constructor(url) { super(url); window.opened.push(url); }
}
window.h = {
  events: [], closes: [], stops: [], oks: [], resyncs: [], client: null, sub: null,
  async start(base, username, password, workspace, backoff) {
    this.client = new OneTask.OneTaskClient(
      { baseUrl: base, WebSocket: CountingWebSocket, backoff });
    await this.client.login(username, password);
    this.sub = this.client.subscribe({ workspace }, {
      task_update: (m) => this.events.push({ seq: m.seq, action: m.action, title: m.data.title }),
      resync_required: (m) => this.resyncs.push(m.data),
      auth_ok: (m) => this.oks.push(m.data.expires_at),
      onClose: (i) => this.closes.push({ code: i.code, action: i.action, willRetry: i.willRetry }),
      onStop: (i) => this.stops.push(i && { code: i.code, action: i.action, error: i.error }),
    });
    return true;
  },
  state() {
    return { state: this.sub.state, connects: this.sub.connects, lastSeq: this.sub.lastSeq,
             renewals: this.sub.renewals, opened: window.opened.length };
  },
};
window.harnessReady = true;
</script>"""


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The harness and the built package, on a loopback port of their own."""
    if not (DIST / "index.js").exists():
        skip_outside_ci(f"{DIST} is not built: run scripts/js (or npm run build in clients/js)")

    def resolve(path: str) -> tuple[bytes, str] | None:
        if path == "/":
            return HARNESS.encode(), "text/html; charset=utf-8"
        if not path.startswith("/onetask-client/"):
            return None
        file = (DIST / path.removeprefix("/onetask-client/")).resolve()
        if DIST not in file.parents or not file.is_file():
            return None
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return file.read_bytes(), "text/javascript" if file.suffix == ".js" else kind

    with serve_static(resolve) as origin:
        yield origin


@pytest.fixture(scope="module")
def js_server(tmp_path_factory: pytest.TempPathFactory, page_origin: str) -> Iterator[Server]:
    """Access tokens live 10 s (the least allowed): the client must renew them in-band."""
    server = Server(
        tmp_path_factory.mktemp("js-client"),
        ONETASK_CORS_ORIGINS=page_origin,
        ONETASK_ACCESS_TOKEN_TTL_S="10",
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def js_api(js_server: Server) -> AsyncIterator[Api]:
    async with js_server.api() as api:
        yield api


async def fresh(user: User) -> User:
    """Renew a test user's 10-second access token before using it."""
    r = await user.client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh})
    assert r.status_code == 200, r.text
    user.token, user.refresh = r.json()["access_token"], r.json()["refresh_token"]
    return user


async def start(
    page: Page, origin: str, server: Server, user: User, workspace: int, **backoff: int
) -> None:
    await page.goto(origin + "/")
    await page.wait_for("window.harnessReady === true")
    args = ", ".join(
        json.dumps(a)
        for a in (server.url, user.username, "password123", workspace, backoff or None)
    )
    assert await page.eval(f"h.start({args})") is True
    await page.wait_for("h.sub.state === 'open'")


async def state(page: Page) -> dict[str, Any]:
    value: dict[str, Any] = await page.eval("h.state()")
    return value


def no_exceptions(page: Page) -> None:
    assert not [line for line in page.console if line.startswith("EXCEPTION")], page.console


async def test_live_task_updates_arrive(js_api: Api, js_server: Server, page_origin: str) -> None:
    alice = await js_api.user()
    workspace = await alice.workspace("JS live")
    async with chromium() as page:
        await start(page, page_origin, js_server, alice, workspace)
        created = await alice.task(workspace, title="from Python")
        r = await alice.patch(f"/tasks/{created['id']}", json={"priority": "high"})
        assert r.status_code == 200, r.text
        await page.wait_for("h.events.length === 2")
        events = await page.eval("h.events")
        # and a write through the client itself (cross-origin, with an Idempotency-Key)
        mine = await page.eval(f"h.client.tasks.create({workspace}, {{title: 'from the page'}})")
        await page.wait_for("h.events.length === 3")
        events = await page.eval("h.events")
        no_exceptions(page)
    assert [(e["seq"], e["action"]) for e in events] == [
        (1, "created"),
        (2, "updated"),
        (3, "created"),
    ]
    assert events[0]["title"] == "from Python" and events[2]["title"] == "from the page"
    assert mine["title"] == "from the page" and mine["workspace_id"] == workspace


async def test_a_restart_mid_stream_is_resumed_with_no_gap(
    tmp_path: Path, page_origin: str
) -> None:
    server = Server(tmp_path / "restart", ONETASK_CORS_ORIGINS=page_origin).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice = await Api(http).user()
            workspace = await alice.workspace("JS restart")
            async with chromium() as page:
                # a slow first retry, so that writes land while the client is away
                await start(page, page_origin, server, alice, workspace, initialDelayMs=1500)
                for i in range(3):
                    await alice.task(workspace, title=f"before {i}")
                await page.wait_for("h.events.length === 3")

                server.stop()  # 1001, then refused connections while it is down
                await page.wait_for("h.closes.some(c => c.code === 1001)")
                server.start()
                alice = await fresh(alice)
                for i in range(3):
                    await alice.task(workspace, title=f"after {i}")

                await page.wait_for("h.events.length >= 6", timeout=60)
                await asyncio.sleep(1)  # anything duplicated would show up now
                events = await page.eval("h.events")
                after = await state(page)
                closes = await page.eval("h.closes")
                no_exceptions(page)
    finally:
        server.stop()
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]  # contiguous, each once
    assert [e["title"] for e in events][3:] == ["after 0", "after 1", "after 2"]
    assert after["connects"] >= 2 and after["state"] == "open"
    assert closes[0] == {"code": 1001, "action": "reconnect", "willRetry": True}
    assert after["lastSeq"] == 6


async def test_token_expiry_is_handled_in_band(
    js_api: Api, js_server: Server, page_origin: str
) -> None:
    """Tokens live 10 s: the client refreshes them before expiry, sends `auth`, gets
    `auth_ok` and keeps its one connection past several lifetimes."""
    alice = await js_api.user()
    workspace = await alice.workspace("JS expiry")
    async with chromium() as page:
        await start(page, page_origin, js_server, alice, workspace)
        await page.wait_for("h.oks.length >= 3", timeout=60)  # ~ 3 token lifetimes
        alice = await fresh(alice)
        await alice.task(workspace, title="after three renewals")
        await page.wait_for("h.events.length === 1")
        after = await state(page)
        closes = await page.eval("h.closes")
        oks = await page.eval("h.oks")
        no_exceptions(page)
    assert after["connects"] == 1 and after["opened"] == 1 and after["state"] == "open"
    assert after["renewals"] >= 3
    assert closes == []  # never closed: no 4401
    assert all(ok.endswith("Z") for ok in oks) and oks == sorted(oks)


async def test_4403_stops_without_reconnecting(
    js_api: Api, js_server: Server, page_origin: str
) -> None:
    alice, bob = await js_api.user(), await js_api.user()
    workspace = await alice.workspace("JS removal", (bob, "member"))
    async with chromium() as page:
        await start(page, page_origin, js_server, bob, workspace, initialDelayMs=100)
        r = await alice.delete(f"/workspaces/{workspace}/members/{bob.id}")
        assert r.status_code == 204, r.text
        await page.wait_for("h.stops.length === 1")
        await asyncio.sleep(3)  # many backoff periods of 100 ms
        stops = await page.eval("h.stops")
        after = await state(page)
        no_exceptions(page)
    assert stops[0]["code"] == 4403 and stops[0]["action"] == "stop"
    assert stops[0]["error"]["code"] == "access_revoked"
    assert after["state"] == "stopped" and after["opened"] == 1


async def test_node_client_with_the_ws_package(js_api: Api, js_server: Server) -> None:
    """In Node (no global WebSocket in Node 20) the client takes `ws`'s constructor."""
    alice = await js_api.user()
    script = "test/e2e/node-client.mjs"
    if not (DIST / "index.js").exists():
        skip_outside_ci(f"{DIST} is not built: run scripts/js (or npm run build in clients/js)")
    result = await asyncio.to_thread(
        npm_script, script, js_server.url, alice.username, "password123"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["seen"] == [
        {"seq": 1, "action": "created", "title": "from node"},
        {"seq": 2, "action": "completed", "title": "from node"},
    ]
    assert report["missing"] == {"name": "ApiError", "status": 404, "title": "Not found"}
