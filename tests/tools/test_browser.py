"""The test page and the guide's own JavaScript, in headless Chromium against a real server.

Chromium comes from Debian (scripts/install-browser, called by .ci/run); with CI=true a
missing browser fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from onetask.events.close_codes import CLOSE_CODES
from tests.conftest import GUIDE_NOTIFICATION_FIELDS, Api
from tests.e2e.servers import Server
from tests.tools.browser import Page, chromium, serve_static, skip_outside_ci

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
GUIDE_EXAMPLE = Path(__file__).with_name("guide_integration_example.js")
GUIDE_NAMES = ("seed/websocket-integration-guide.md",)


def entries(endpoint: str, kind: str, action: str | None = None) -> str:
    selector = f'#log .entry[data-endpoint="{endpoint}"][data-type="{kind}"]'
    if action:
        selector += f'[data-action="{action}"]'
    return json.dumps(selector)


async def log_in(page: Page, server: Server, username: str, workspace_id: int) -> None:
    await page.goto(server.url + "/ws-test")
    await page.fill("#username", username)
    await page.fill("#password", "password123")
    await page.click("#login")
    await page.wait_for(
        f"[...document.querySelectorAll('#workspace option')].some(o => o.value === "
        f"'{workspace_id}')"
    )
    await page.fill("#workspace", str(workspace_id))


async def test_ws_test_page_shows_a_rest_change_live(live: Api, server: Server) -> None:
    alice = await live.user()
    workspace = await alice.workspace("Browser")
    async with chromium() as page:
        await log_in(page, server, alice.username, workspace)
        await page.click("#connect-tasks")
        await page.wait_for(f"!!document.querySelector({entries('tasks', 'connected')})")

        task = await alice.task(workspace, title="Seen in the browser")

        shown = await page.wait_for(
            f"document.querySelector({entries('tasks', 'task_update', 'created')})?.textContent"
        )
        assert "Seen in the browser" in shown and f'"id": {task["id"]}' in shown
        assert await page.eval("document.querySelector('#conn-tasks .seq').textContent") == "1"

        await page.click("#send-ping")
        await page.wait_for(f"!!document.querySelector({entries('tasks', 'pong')})")
        await page.click("#send-auth")  # the current token, acknowledged in-band
        ok = await page.wait_for(
            f"document.querySelector({entries('tasks', 'auth_ok')})?.textContent"
        )
        assert '"expires_at"' in ok
        await page.screenshot(ARTIFACTS / "ws-test.png")
        assert not [line for line in page.console if line.startswith("EXCEPTION")]


async def test_ws_test_page_talks_to_a_focus_session(live: Api, server: Server) -> None:
    alice = await live.user()
    workspace = await alice.workspace("Focus")
    task = await alice.task(workspace, title="Write")
    r = await alice.post("/focus-sessions", json={"workspace_id": workspace, "title": "Deep"})
    assert r.status_code == 201, r.text
    session = r.json()["id"]
    async with chromium() as page:
        await log_in(page, server, alice.username, workspace)
        await page.wait_for(
            f"[...document.querySelectorAll('#session option')].some(o => o.value === '{session}')"
        )
        await page.fill("#session", session)
        await page.click("#connect-focus")
        await page.wait_for(f"!!document.querySelector({entries('focus', 'connected')})")
        await page.fill("#send-to", "focus")
        await page.fill("#focus-status", "on_break")
        await page.click("#send-status")
        await page.fill("#focus-task", str(task["id"]))
        await page.click("#send-task")
        changed = await page.wait_for(
            f"document.querySelector({entries('focus', 'focus_update', 'task_changed')})"
            "?.textContent"
        )
        assert f'"current_task_id": {task["id"]}' in changed
        status = await page.eval(
            f"document.querySelector({entries('focus', 'focus_update', 'status_change')})"
            ".textContent"
        )
        assert '"status": "on_break"' in status


async def test_ws_test_page_shows_a_refusal_with_its_close_code(live: Api, server: Server) -> None:
    alice, mallory = await live.user(), await live.user()
    workspace = await alice.workspace("Private")
    own = await mallory.workspace("Mine")
    async with chromium() as page:
        await log_in(page, server, mallory.username, own)
        await page.eval(  # a workspace id mallory cannot see, as a crafted URL would give
            f"document.querySelector('#workspace').add(new Option('{workspace}', '{workspace}'))"
        )
        await page.fill("#workspace", str(workspace))
        await page.click("#connect-tasks")
        state = await page.wait_for(
            "document.querySelector('#conn-tasks .state').textContent.startsWith('closed 4404') "
            "&& document.querySelector('#conn-tasks .note').textContent"
        )
        assert "not visible" in state
        assert await page.eval("document.querySelector('#code-4404').classList.contains('hit')")


async def test_ws_test_page_reconnects_and_resumes_after_a_restart(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path / "restart").start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice = await Api(http).user()
            workspace = await alice.workspace("Restart")
            await alice.task(workspace, title="before")
            async with chromium() as page:
                await log_in(page, server, alice.username, workspace)
                await page.click("#connect-tasks")
                await page.wait_for(f"!!document.querySelector({entries('tasks', 'connected')})")
                await alice.task(workspace, title="first")
                await page.wait_for(
                    "document.querySelector('#conn-tasks .seq').textContent === '2'"
                )

                server.stop()  # 1001, then refused connections while it is down
                await page.wait_for(f"!!document.querySelector({entries('tasks', 'closed 1001')})")
                server.start()
                await alice.task(workspace, title="while reconnecting")
                await alice.task(workspace, title="after restart")

                await page.wait_for(
                    "document.querySelector('#conn-tasks .seq').textContent === '4'"
                )
                seqs = await page.eval(
                    f"[...document.querySelectorAll({entries('tasks', 'task_update')})]"
                    ".map(e => Number(e.dataset.seq))"
                )
                assert seqs == [2, 3, 4]  # every missed event once, in order
                assert await page.eval("wsTest.connections.tasks.connects") >= 2
    finally:
        server.stop()


async def test_ws_test_page_sets_a_reminder_and_shows_it_fire(live: Api, server: Server) -> None:
    alice = await live.user()
    workspace = await alice.workspace("Reminders")
    async with chromium() as page:
        await log_in(page, server, alice.username, workspace)
        await page.click("#connect-notifications")
        await page.wait_for(f"!!document.querySelector({entries('notifications', 'connected')})")
        await page.click("#remind-me")
        fired = await page.wait_for(
            f"[...document.querySelectorAll({entries('notifications', 'notification')})]"
            ".map(e => e.querySelector('summary').textContent)"
            ".find(t => t.includes('notification:task_reminder'))",
            timeout=30,
        )
        assert "Task Reminder" in fired
        types = await page.eval(
            "[...document.querySelectorAll('#notification-types td:first-child')]"
            ".map(td => td.textContent)"
        )
        assert {"task_reminder", "task_overdue"} <= set(types)
        assert not [line for line in page.console if line.startswith("EXCEPTION")]


async def test_page_close_code_table_is_the_servers(live: Api, server: Server) -> None:
    async with chromium() as page:
        await page.goto(server.url + "/ws-test")
        table = await page.eval("JSON.stringify(CLOSE_CODES)")
    expected = {
        str(c.code): {"meaning": c.meaning, "advice": c.advice, "action": c.action}
        for c in CLOSE_CODES.values()
    }
    assert json.loads(table) == expected


def guide_example() -> str:
    return GUIDE_EXAMPLE.read_text()


def test_vendored_guide_example_is_the_guides() -> None:
    """guide_integration_example.js is the guide's "Integration Example", unchanged."""
    candidates = [
        base / name for base in (ROOT.parent / "shared", ROOT / "shared") for name in GUIDE_NAMES
    ]
    guide = next((p for p in candidates if p.exists()), None)
    if guide is None:  # a checkout without the project's shared/ folder beside it
        skip_outside_ci(f"integration guide not found at {candidates}")  # CI always has it
    text = guide.read_text()
    section = text[text.index("## Integration Example") :]
    assert guide_example() in section


@contextmanager
def serve_page(html: str) -> Iterator[str]:
    """The page alone, on a loopback port of its own."""
    with serve_static(lambda _path: (html.encode(), "text/html; charset=utf-8")) as origin:
        yield f"{origin}/"


def guide_page(server: Server, token: str) -> str:
    example = guide_example().replace("wss://your-domain.com", server.ws_url)
    return f"""<!doctype html><meta charset="utf-8"><title>guide example</title>
<script>
window.shown = []; window.reconnects = 0; window.received = [];
function getAuthToken() {{ return {json.dumps(token)}; }}
function showNotification(data) {{ window.shown.push(data); }}
function reconnectWebSocket() {{ window.reconnects += 1; }}
</script>
<script>
{example}
</script>
<script>
// Observe only: lets the test wait until the server said "connected".
notificationSocket.addEventListener("message", (e) => window.received.push(JSON.parse(e.data)));
</script>"""


async def test_guide_integration_example_shows_the_notification(live: Api, server: Server) -> None:
    alice, bob = await live.user(), await live.user()
    workspace = await alice.workspace("Guide", (bob, "member"))
    with serve_page(guide_page(server, bob.token)) as url:
        async with chromium() as page:
            await page.goto(url)
            await page.wait_for("window.received.some(m => m.type === 'connected')")

            task = await alice.task(workspace, title="Project Proposal", assignee_id=bob.id)

            await page.wait_for("window.shown.length > 0")
            shown = await page.eval("window.shown")
            console = list(page.console)
    assert "Connected to notifications WebSocket" in console
    assert len(shown) == 1
    data = shown[0]
    for field in sorted(GUIDE_NOTIFICATION_FIELDS):
        assert field in data, field
    assert data["related_entity_type"] == "task" and data["related_entity_id"] == task["id"]
    assert data["read"] is False and "Project Proposal" in data["content"]
    inbox = (await bob.get("/notifications")).json()["items"]
    assert inbox[0]["id"] == data["id"] and inbox[0]["title"] == data["title"]


async def test_docs_and_redoc_render_from_the_server_alone(server: Server) -> None:
    """`/docs` and `/redoc` load their scripts, styles and fonts from this server: they work
    without internet, and a reader's browser asks nobody else for anything."""
    async with chromium() as page:
        await page.watch_network()
        await page.goto(server.url + "/docs")
        operations = await page.wait_for("document.querySelectorAll('.opblock').length")
        assert operations >= 40
        paths = await page.eval(
            "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.dataset.path)"
        )
        assert "/api/v1/workspaces/{workspace_id}/tasks" in paths
        await page.screenshot(ARTIFACTS / "docs.png")

        await page.goto(server.url + "/redoc")
        await page.wait_for("document.querySelectorAll('[data-section-id^=\"operation/\"]').length")
        assert "Create Task" in await page.eval("document.body.innerText")
        await page.screenshot(ARTIFACTS / "redoc.png")

        assert page.requests_outside(server.url) == []
        assert not [line for line in page.console if line.startswith("EXCEPTION")]
