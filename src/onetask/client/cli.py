"""websocket_client_test.py: connect to a OneTask WebSocket channel and print what arrives."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from onetask.client.api import (
    DEFAULT_URL,
    ApiError,
    ClientError,
    LoginFailed,
    OneTaskClient,
    Unreachable,
)
from onetask.client.stream import (
    ENDPOINT_KINDS,
    Endpoint,
    EndpointKind,
    HandshakeRejected,
    ServerClosed,
    Subscription,
)
from onetask.events.close_codes import CLOSE_CODES

PROG = "websocket_client_test.py"
EXIT_EXPECTATION = 1
EXIT_USAGE = 2
EXIT_LOGIN = 3
EXIT_UNREACHABLE = 4
EXIT_API = 5
EXIT_HANDSHAKE = 6
EXIT_TRIGGER_UNSUPPORTED = 7
EXIT_INTERRUPTED = 130
EXIT_CLOSED: dict[int, int] = {code: 10 + i for i, code in enumerate(sorted(CLOSE_CODES))}
EXIT_CLOSED_OTHER = 10 + len(EXIT_CLOSED)
DEFAULT_EXPECT_TIMEOUT_S = 10.0

EXPECT_ENDPOINT: dict[str, EndpointKind] = {
    "task_update": "tasks",
    "workspace_update": "tasks",
    "notification": "notifications",
    "notification_read": "notifications",
    "focus_update": "focus",
}


class UsageError(ClientError):
    pass


class TriggerUnsupported(ClientError):
    pass


def _epilog() -> str:
    closes = "\n".join(
        f"  {EXIT_CLOSED[c.code]:>3}  closed {c.code}: {c.meaning}" for c in CLOSE_CODES.values()
    )
    return f"""\
examples:
  {PROG} --username alice --password 'correct horse' tasks --workspace 1
  {PROG} --username alice --password 'correct horse' --trigger --expect task_update:created
  {PROG} --token "$TOKEN" notifications --json --reconnect
  {PROG} --token "$TOKEN" focus --session focus-3 --send '{{"type":"ping"}}' --expect pong

exit codes:
    0  done: every --expect (and the --trigger's message) arrived, or the stream ended normally
    1  an expected message did not arrive within --timeout
    2  bad arguments
    3  login failed (wrong username or password, or too many failed logins)
    4  server unreachable (not running, wrong host or port)
    5  a REST call failed
    6  the server refused the WebSocket upgrade (not a OneTask server or endpoint)
    7  --trigger cannot make a change on this endpoint/server
{closes}
  {EXIT_CLOSED_OTHER:>3}  closed with any other code (e.g. 1006: connection lost)
  130  interrupted (Ctrl-C)

Without --reconnect any close ends the run with its exit code. With it, 1001, 4408,
4429, 4508 and lost connections are retried with exponential backoff and resumed with
since=<last seq>; 4401 logs in again (when --username/--password were given).
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Connect to one of OneTask's WebSocket endpoints (the integration guide's "
        "notifications, workspace tasks or focus session channel), print every message, and "
        "optionally make a test change and wait for an expected message.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "endpoint",
        nargs="?",
        choices=ENDPOINT_KINDS,
        help="which channel (default: focus with --session, tasks with --workspace or "
        "--trigger, else what --expect names, else notifications)",
    )
    p.add_argument(
        "--url",
        default=os.environ.get("ONETASK_URL", DEFAULT_URL),
        help=f"server base URL (default {DEFAULT_URL}, or $ONETASK_URL)",
    )
    p.add_argument(
        "--username",
        default=os.environ.get("ONETASK_USERNAME"),
        help="log in as this user (username or email; or $ONETASK_USERNAME)",
    )
    p.add_argument(
        "--password",
        default=os.environ.get("ONETASK_PASSWORD"),
        help="password for --username (or $ONETASK_PASSWORD)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("ONETASK_TOKEN"),
        help="an access token instead of logging in (or $ONETASK_TOKEN)",
    )
    p.add_argument(
        "--workspace",
        type=int,
        metavar="ID",
        help="workspace id for the tasks endpoint (default: your first workspace; "
        "with --trigger a new one is created)",
    )
    p.add_argument("--session", metavar="focus-N", help="focus session id for the focus endpoint")
    p.add_argument(
        "--since",
        type=int,
        metavar="SEQ",
        help="resume after this seq (replays every later event first)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    p.add_argument(
        "--reconnect",
        action="store_true",
        help="reconnect with backoff and resume (since) after transient closes",
    )
    p.add_argument(
        "--trigger",
        action="store_true",
        help="make a test change over REST once connected and wait for its message "
        "(tasks: creates a task; notifications: a task assigned to you; "
        "focus: sends status_change)",
    )
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="TYPE[:ACTION]",
        help="exit 0 once a message of this type (and action) arrives; repeatable",
    )
    p.add_argument(
        "--send",
        action="append",
        default=[],
        metavar="JSON",
        help='send this client message once connected, e.g. \'{"type":"ping"}\'',
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"give up after S seconds (default {DEFAULT_EXPECT_TIMEOUT_S:g} with "
        "--expect/--trigger, else run until closed or Ctrl-C)",
    )
    return p


@dataclass
class Wanted:
    """Messages still awaited: one per --expect, plus the --trigger's own."""

    labels: list[str] = field(default_factory=list)
    tests: list[Callable[[dict[str, Any]], bool]] = field(default_factory=list)

    def add(self, label: str, test: Callable[[dict[str, Any]], bool]) -> None:
        self.labels.append(label)
        self.tests.append(test)

    def see(self, message: dict[str, Any]) -> list[str]:
        met = [i for i, test in enumerate(self.tests) if test(message)]
        seen = [self.labels[i] for i in met]
        for i in reversed(met):
            del self.labels[i], self.tests[i]
        return seen

    @property
    def pending(self) -> bool:
        return bool(self.labels)


def expectation(spec: str) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    kind, _, action = spec.partition(":")
    if not kind:
        raise UsageError(f"--expect {spec!r}: use TYPE or TYPE:ACTION, e.g. task_update:created")

    def test(message: dict[str, Any]) -> bool:
        return message.get("type") == kind and (not action or message.get("action") == action)

    return spec, test


class Output:
    def __init__(self, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json, self.out, self.err = as_json, out, err

    def message(self, message: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(message, separators=(",", ":")), file=self.out, flush=True)
            return
        kind = str(message.get("type"))
        label = f"{kind}:{message['action']}" if "action" in message else kind
        seq = f"seq {message['seq']}  " if message.get("seq") else ""
        print(f"[{time.strftime('%H:%M:%S')}] {seq}{label}", file=self.out)
        if "data" in message:
            body = json.dumps(message["data"], indent=2, ensure_ascii=False)
            print("  " + body.replace("\n", "\n  "), file=self.out)
        self.out.flush()

    def note(self, text: str) -> None:
        print(f"» {text}", file=self.err, flush=True)

    def error(self, text: str) -> None:
        print(f"{PROG}: error: {text}", file=self.err, flush=True)


def choose_endpoint(args: argparse.Namespace) -> EndpointKind:
    if args.endpoint:
        return args.endpoint  # type: ignore[no-any-return]
    if args.session:
        return "focus"
    if args.workspace is not None or args.trigger:
        return "tasks"
    for spec in args.expect:
        if spec.partition(":")[0] in EXPECT_ENDPOINT:
            return EXPECT_ENDPOINT[spec.partition(":")[0]]
    return "notifications"


async def resolve(client: OneTaskClient, args: argparse.Namespace, out: Output) -> Endpoint:
    kind = choose_endpoint(args)
    if kind == "focus":
        if not args.session:
            raise UsageError("the focus endpoint needs --session focus-N")
        return Endpoint("focus", session_id=args.session)
    if kind == "notifications":
        return Endpoint("notifications")
    if args.workspace is not None:
        return Endpoint("tasks", workspace_id=args.workspace)
    if args.trigger:
        workspace = await client.create_workspace(f"{PROG} {time.strftime('%Y-%m-%d %H:%M:%S')}")
        out.note(f"created workspace {workspace['id']} ({workspace['name']!r}) for --trigger")
        return Endpoint("tasks", workspace_id=int(workspace["id"]))
    mine = await client.workspaces()
    if not mine:
        raise UsageError("you are a member of no workspace; pass --workspace ID or --trigger")
    out.note(
        f"using your first workspace, {mine[0]['id']} ({mine[0]['name']!r}); "
        "pass --workspace ID for another"
    )
    return Endpoint("tasks", workspace_id=int(mine[0]["id"]))


async def trigger(
    client: OneTaskClient, sub: Subscription, out: Output
) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    """Make one change the subscribed channel reports; return what its message looks like."""
    endpoint = sub.endpoint
    title = f"{PROG} test change {time.strftime('%H:%M:%S')}"
    if endpoint.kind == "tasks":
        assert endpoint.workspace_id is not None
        task = await client.create_task(endpoint.workspace_id, title=title)
        out.note(f"--trigger: created task {task['id']} in workspace {endpoint.workspace_id}")
        return f"task_update:created for task {task['id']}", _task_created(int(task["id"]))
    if endpoint.kind == "notifications":
        return await _trigger_notification(client, title, out)
    me = await client.me()
    await sub.send({"type": "status_change", "status": "away"})
    out.note("--trigger: sent status_change (away)")
    return "focus_update:status_change for you", _own_status_change(int(me["id"]))


def _task_created(task_id: int) -> Callable[[dict[str, Any]], bool]:
    def test(message: dict[str, Any]) -> bool:
        return (
            message.get("type") == "task_update"
            and message.get("action") == "created"
            and message.get("data", {}).get("id") == task_id
        )

    return test


def _own_status_change(user_id: int) -> Callable[[dict[str, Any]], bool]:
    def test(message: dict[str, Any]) -> bool:
        user = message.get("data", {}).get("user") or {}
        return message.get("type") == "focus_update" and user.get("id") == user_id

    return test


async def _trigger_notification(
    client: OneTaskClient, title: str, out: Output
) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    if not await client.has_route("/notifications"):
        raise TriggerUnsupported(
            "this server has no notification inbox (GET /api/v1/notifications is missing), so "
            "no change made over REST produces a notification; try the tasks endpoint instead"
        )
    me = await client.me()
    mine = await client.workspaces()
    if mine:
        workspace_id = int(mine[0]["id"])
    else:
        workspace_id = int((await client.create_workspace(f"{PROG} notifications"))["id"])
    task = await client.create_task(workspace_id, title=title, assignee_id=me["id"])
    out.note(f"--trigger: created task {task['id']} assigned to you in workspace {workspace_id}")

    def test(message: dict[str, Any]) -> bool:
        data = message.get("data", {})
        return message.get("type") == "notification" and data.get("related_entity_id") == task["id"]

    return f"a notification about task {task['id']} (task_assigned to yourself)", test


async def listen(args: argparse.Namespace, out: Output) -> int:
    wanted = Wanted()
    for spec in args.expect:
        wanted.add(*expectation(spec))
    sends = [_client_message(raw) for raw in args.send]
    timeout = args.timeout
    if timeout is None and (wanted.pending or args.trigger):
        timeout = DEFAULT_EXPECT_TIMEOUT_S
    async with OneTaskClient(args.url, args.token) as client:
        if not args.token:
            if not (args.username and args.password):
                raise UsageError("pass --username and --password, or --token")
            await client.login(args.username, args.password)
        endpoint = await resolve(client, args, out)
        sub = Subscription(
            client, endpoint, since=args.since, reconnect=args.reconnect, notice=out.note
        )
        try:
            async with asyncio.timeout(timeout):
                return await _stream(client, sub, wanted, sends, args.trigger, out)
        except TimeoutError:
            if not wanted.pending:
                out.note(f"listened for {timeout:g}s")
                return 0
            out.error(
                f"no {' and no '.join(wanted.labels)} within {timeout:g}s "
                f"(last seq {sub.last_seq}); raise --timeout if the server is slow"
            )
            return EXIT_EXPECTATION
        finally:
            await sub.close()


async def _stream(
    client: OneTaskClient,
    sub: Subscription,
    wanted: Wanted,
    sends: list[dict[str, Any]],
    make_change: bool,
    out: Output,
) -> int:
    expecting = wanted.pending or make_change
    started = False
    async for message in sub:
        out.message(message)
        if message.get("type") == "connected" and not started:
            started = True
            for outgoing in sends:
                await sub.send(outgoing)
            if make_change:
                wanted.add(*await trigger(client, sub, out))
        for label in wanted.see(message):
            out.note(f"got {label}")
        if expecting and not wanted.pending:
            return 0
    if wanted.pending:
        out.error(f"the server ended the stream (1000) before {' and '.join(wanted.labels)}")
        return EXIT_CLOSED[1000]
    return 0


def _client_message(raw: str) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--send {raw!r} is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise UsageError(f"--send {raw!r} must be a JSON object")
    return message


def exit_code(error: ClientError) -> int:
    if isinstance(error, ServerClosed):
        return EXIT_CLOSED.get(error.close.code, EXIT_CLOSED_OTHER)
    for kind, code in (
        (UsageError, EXIT_USAGE),
        (LoginFailed, EXIT_LOGIN),
        (Unreachable, EXIT_UNREACHABLE),
        (HandshakeRejected, EXIT_HANDSHAKE),
        (TriggerUnsupported, EXIT_TRIGGER_UNSUPPORTED),
        (ApiError, EXIT_API),
    ):
        if isinstance(error, kind):
            return code
    return EXIT_API


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    args = parser().parse_args(argv)
    output = Output(args.json, out or sys.stdout, err or sys.stderr)
    try:
        return asyncio.run(listen(args, output))
    except ClientError as error:
        output.error(str(error))
        return exit_code(error)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
