"""websocket_client_test.py, run as a frontend developer would, against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from onetask.client.cli import EXIT_CLOSED
from tests.conftest import Api
from tests.e2e.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "websocket_client_test.py"
PASSWORD = "password123"


@dataclass
class Run:
    code: int
    out: str
    err: str


async def cli(*args: str, timeout: float = 60) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONETASK_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def test_help_names_the_endpoints_and_exit_codes() -> None:
    run = await cli("--help")
    assert run.code == 0
    for word in ("notifications", "tasks", "focus", "--trigger", "--expect", "4404", "exit codes"):
        assert word in run.out


async def test_trigger_on_a_fresh_account_sees_its_task_created(live: Api, server: Server) -> None:
    alice = await live.user()  # no workspace yet: --trigger makes one
    run = await cli(
        "--url", server.url, "--username", alice.username, "--password", PASSWORD,
        "--trigger", "--expect", "task_update:created",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert "task_update:created" in run.out and "created workspace" in run.err
    workspaces = (await alice.get("/workspaces")).json()
    tasks = (await alice.get(f"/workspaces/{workspaces[0]['id']}/tasks")).json()["items"]
    assert f'"id": {tasks[0]["id"]}' in run.out


async def test_wrong_password_is_a_clear_login_failure(live: Api, server: Server) -> None:
    alice = await live.user()
    run = await cli(
        "--url", server.url, "--username", alice.username, "--password", "wrong-password",
        "--trigger", "--expect", "task_update:created",
    )  # fmt: skip
    assert run.code == 3
    assert "wrong username or password" in run.err and "Traceback" not in run.err


async def test_closed_port_is_a_clear_unreachable_error() -> None:
    run = await cli(
        "--url", f"http://127.0.0.1:{free_port()}", "--username", "x", "--password", "y",
        "--trigger", "--expect", "task_update:created",
    )  # fmt: skip
    assert run.code == 4
    assert "Cannot reach the server" in run.err and "Traceback" not in run.err


async def test_non_member_workspace_is_refused_with_4404(live: Api, server: Server) -> None:
    alice, mallory = await live.user(), await live.user()
    workspace = await alice.workspace("Private")
    run = await cli(
        "--url", server.url, "--username", mallory.username, "--password", PASSWORD,
        "tasks", "--workspace", str(workspace), "--trigger", "--expect", "task_update:created",
    )  # fmt: skip
    assert run.code == EXIT_CLOSED[4404] == 20
    assert "4404" in run.err and "not a member" in run.err
    assert (await alice.get(f"/workspaces/{workspace}/tasks")).json()["items"] == []


async def test_invalid_token_is_refused_with_4401(server: Server) -> None:
    run = await cli("--url", server.url, "--token", "not-a-token", "notifications")
    assert run.code == EXIT_CLOSED[4401]
    assert "4401" in run.err and "token" in run.err


async def test_json_lines_with_a_token_and_a_client_message(live: Api, server: Server) -> None:
    alice = await live.user()
    run = await cli(
        "--url", server.url, "--token", alice.token, "notifications", "--json",
        "--send", '{"type":"ping"}', "--expect", "pong",
    )  # fmt: skip
    assert run.code == 0, run.err
    lines = [json.loads(line) for line in run.out.splitlines()]
    assert [m["type"] for m in lines] == ["connected", "pong"]
    assert lines[0]["data"]["channel"] == f"user:{alice.id}:notifications"


async def test_missing_expected_message_times_out_non_zero(live: Api, server: Server) -> None:
    alice = await live.user()
    workspace = await alice.workspace()
    run = await cli(
        "--url", server.url, "--token", alice.token, "tasks", "--workspace", str(workspace),
        "--expect", "task_update:deleted", "--timeout", "1",
    )  # fmt: skip
    assert run.code == 1
    assert "no task_update:deleted within 1s" in run.err


async def test_since_replays_missed_events(live: Api, server: Server) -> None:
    alice = await live.user()
    workspace = await alice.workspace()
    for title in ("one", "two", "three"):
        await alice.task(workspace, title=title)
    run = await cli(
        "--url", server.url, "--token", alice.token, "--workspace", str(workspace),
        "--since", "1", "--json", "--timeout", "2",
    )  # fmt: skip
    assert run.code == 0, run.err
    seqs = [m.get("seq") for m in map(json.loads, run.out.splitlines()) if m.get("seq")]
    assert seqs == [2, 3]


async def test_trigger_on_notifications_delivers_one(live: Api, server: Server) -> None:
    alice = await live.user()
    run = await cli(
        "--url", server.url, "--username", alice.username, "--password", PASSWORD,
        "notifications", "--trigger", "--expect", "notification",
    )  # fmt: skip
    assert run.code == 0, run.out + run.err
    assert "notification" in run.out and "assigned to you" in run.err


async def test_reconnects_and_resumes_across_a_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "restart").start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice = await Api(http).user()
            workspace = await alice.workspace()
            await alice.task(workspace, title="one")
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(SCRIPT), "--url", server.url, "--token", alice.token,
                "--workspace", str(workspace), "--since", "0", "--json", "--reconnect",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
            )  # fmt: skip
            assert process.stdout is not None and process.stderr is not None
            seen = [json.loads(await asyncio.wait_for(process.stdout.readline(), 20))]
            seen.append(json.loads(await asyncio.wait_for(process.stdout.readline(), 20)))
            assert [m.get("seq") for m in seen] == [None, 1]
            server.stop()
            server.start()
            await alice.task(workspace, title="two")
            await alice.task(workspace, title="three")
            while [m["seq"] for m in seen if m.get("seq")] != [1, 2, 3]:
                seen.append(json.loads(await asyncio.wait_for(process.stdout.readline(), 30)))
                assert len(seen) < 10, seen
            process.terminate()
            await process.wait()
            notes = (await process.stderr.read()).decode()
            assert "closed with 1001" in notes and "since=1" in notes
    finally:
        server.stop()
