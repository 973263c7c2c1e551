"""The embedded mode: a SIGKILL right after commit loses nothing on resume."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import Api
from tests.e2e.servers import Server, Socket


async def test_sigkill_after_commit_then_restart_replays_the_event(tmp_path: Path) -> None:
    # Registering and creating a workspace emit no events; the task creation does.
    doomed = Server(tmp_path, ONETASK_FAULT_CRASH_AFTER_COMMIT="true").start()
    async with httpx.AsyncClient(base_url=doomed.url, timeout=30) as client:
        alice = await Api(client).user()
        ws = await alice.workspace()
        sock = await Socket.open(doomed.ws_url, f"workspaces/{ws}/tasks", alice.token)
        assert (await sock.recv_type("connected"))["data"]["seq"] == 0
        with pytest.raises(httpx.HTTPError):  # the process dies before it answers
            await alice.task(ws, title="committed, then the crash")
    assert doomed.process is not None and doomed.process.wait(10) == -9
    with pytest.raises(websockets.ConnectionClosed):
        await sock.recv()
    restarted = Server(tmp_path, port=doomed.port).start()
    try:
        back = await Socket.open(restarted.ws_url, f"workspaces/{ws}/tasks", alice.token, since=0)
        assert (await back.recv_type("connected"))["data"]["seq"] == 1
        message = await back.recv()
        assert message["seq"] == 1
        assert message["data"]["title"] == "committed, then the crash"
        await back.close()
    finally:
        restarted.stop()
