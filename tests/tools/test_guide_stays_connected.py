"""The guide's Integration Example, verbatim in headless Chromium, stays connected through
many idle periods and still shows a live notification.

It never sends a message; the browser answers the server's protocol pings by itself, and
a pong counts as hearing from the client. The server pings every 0.5 s and closes a peer
it has heard nothing from for 1.5 s: a raw client on the same server that answers no
ping is closed with 4408 meanwhile, so idle closing is on while the page stays.
"""

from __future__ import annotations

import asyncio
import time

from onetask.events.close_codes import describe
from tests.conftest import GUIDE_NOTIFICATION_FIELDS
from tests.e2e.servers import RawPeer, Server, module_server
from tests.tools.browser import chromium
from tests.tools.test_browser import guide_page, serve_page

IDLE_S = 1.5
PERIODS = 6

lively = module_server(
    "guide-idle",
    ONETASK_WS_HEARTBEAT_S="0.5",
    ONETASK_WS_IDLE_TIMEOUT_S=str(IDLE_S),
    ONETASK_ACCESS_TOKEN_TTL_S="3600",
)


async def test_guide_example_stays_connected_through_six_idle_periods(lively: Server) -> None:
    async with lively.api() as api:
        alice, bob = await api.user(), await api.user()
        workspace = await alice.workspace("Guide", (bob, "member"))
        with serve_page(guide_page(lively, bob.token)) as url:
            async with chromium() as page:
                await page.goto(url)
                connected = await page.wait_for(
                    "window.received.find(m => m.type === 'connected')?.data"
                )
                since = time.monotonic()
                assert connected["idle_timeout_s"] == IDLE_S

                silent = await RawPeer.open(
                    lively.port, f"/api/v1/ws/notifications?token={bob.token}"
                )
                try:
                    await silent.read_for(15)
                finally:
                    silent.close()
                assert silent.received.endswith(RawPeer.close_frame(4408, describe(4408).meaning))

                await asyncio.sleep(max(0.0, IDLE_S * PERIODS - (time.monotonic() - since)))
                assert await page.eval("notificationSocket.readyState === WebSocket.OPEN")
                assert await page.eval("window.reconnects") == 0
                assert "Disconnected from notifications WebSocket" not in page.console

                task = await alice.task(workspace, title="Still listening", assignee_id=bob.id)
                await page.wait_for("window.shown.length > 0")
                shown = await page.eval("window.shown")
                stayed = time.monotonic() - since
                assert await page.eval("notificationSocket.readyState === WebSocket.OPEN")
                received = await page.eval("window.received.map(m => m.type)")
                console = list(page.console)
    assert stayed >= IDLE_S * PERIODS
    assert received == ["connected", "notification"]  # nothing else: no error, no close
    assert "Connected to notifications WebSocket" in console
    assert not [line for line in console if line.startswith("EXCEPTION")]
    assert len(shown) == 1 and set(GUIDE_NOTIFICATION_FIELDS) <= set(shown[0])
    assert shown[0]["related_entity_id"] == task["id"] and "Still listening" in shown[0]["content"]
