"""Several server processes on PostgreSQL + Redis: delivery, resume, order, crashes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets

from tests.conftest import Api, User
from tests.e2e.servers import Server, Socket
from tests.e2e.test_admission import ROUNDS, race_removal_against_admission

pytestmark = pytest.mark.scaled


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    a = Server(tmp_path_factory.mktemp("a")).start()
    b = Server(tmp_path_factory.mktemp("b")).start()
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
async def apis(pair: tuple[Server, Server]) -> AsyncIterator[tuple[Api, Api]]:
    a, b = pair
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as ca,
        httpx.AsyncClient(base_url=b.url, timeout=30) as cb,
    ):
        yield Api(ca), Api(cb)


def on(user: User, api: Api) -> User:
    """The same user, talking to another process."""
    return User(api.client, user.token, user.refresh, user.username, user.id)


async def test_a_change_through_one_process_reaches_a_subscriber_on_the_other(
    pair: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    b = pair[1]
    alice = await apis[0].user()
    ws = await alice.workspace()
    sock = await Socket.open(b.ws_url, f"workspaces/{ws}/tasks", alice.token)
    await sock.recv_type("connected")
    task = await alice.task(ws, title="made on A")
    message = await sock.recv_type("task_update")
    assert message["seq"] == 1 and message["data"]["id"] == task["id"]
    await sock.close()


async def test_resume_on_the_other_process_gets_exactly_the_missed_events(
    pair: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    a, b = pair
    alice = await apis[0].user()
    alice_b = on(alice, apis[1])
    ws = await alice.workspace()
    sock = await Socket.open(a.ws_url, f"workspaces/{ws}/tasks", alice.token)
    await sock.recv_type("connected")
    await alice.task(ws, title="seen")
    assert (await sock.recv_type("task_update"))["seq"] == 1
    await sock.close()
    for i in range(6):
        await (alice if i % 2 else alice_b).task(ws, title=f"missed {i}")
    back = await Socket.open(b.ws_url, f"workspaces/{ws}/tasks", alice.token, since=1)
    assert (await back.recv())["data"]["seq"] == 7
    missed = [await back.recv() for _ in range(6)]
    assert [m["seq"] for m in missed] == [2, 3, 4, 5, 6, 7]
    assert [m["data"]["title"] for m in missed] == [f"missed {i}" for i in range(6)]
    await alice.task(ws, title="live")
    assert (await back.recv())["seq"] == 8
    await back.nothing_for(0.5)
    await back.close()


async def test_twenty_writers_on_two_processes_and_a_resuming_reader_sees_every_seq_once(
    pair: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    servers = pair
    alice = await apis[0].user()
    ws = await alice.workspace()
    writes_each = 10
    writers = 20
    total = writers * writes_each

    async def writer(n: int) -> None:
        user = on(alice, apis[n % 2])
        task = await user.task(ws, title=f"w{n}")
        for i in range(writes_each - 1):
            r = await user.patch(f"/tasks/{task['id']}", json={"title": f"w{n}.{i}"})
            assert r.status_code == 200, r.text

    seen: list[int] = []

    async def reader() -> None:
        rng = random.Random(7)
        hop = 0
        while len(seen) < total:
            since = {"since": seen[-1]} if seen else {"since": 0}
            sock = await Socket.open(
                servers[hop % 2].ws_url, f"workspaces/{ws}/tasks", alice.token, **since
            )
            hop += 1
            await sock.recv_type("connected")
            for _ in range(rng.randint(5, 40)):
                if len(seen) >= total:
                    break
                message = await sock.recv(timeout=30)
                assert message["type"] == "task_update", message
                seen.append(message["seq"])
            await sock.close()

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    await asyncio.wait_for(reading, 120)
    assert seen == list(range(1, total + 1))


async def test_sigkill_right_after_commit_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory, pair: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    _, b = pair
    alice = await apis[1].user()
    ws = await alice.workspace()
    subscriber = await Socket.open(b.ws_url, f"workspaces/{ws}/tasks", alice.token)
    await subscriber.recv_type("connected")
    doomed = Server(
        tmp_path_factory.mktemp("doomed"), ONETASK_FAULT_CRASH_AFTER_COMMIT="true"
    ).start()
    try:
        async with httpx.AsyncClient(base_url=doomed.url, timeout=30) as client:
            with pytest.raises(httpx.HTTPError):  # the process dies before it answers
                await on(alice, Api(client)).task(ws, title="committed, never published")
        assert doomed.process is not None and doomed.process.wait(10) == -9
        message = await subscriber.recv_type("task_update", timeout=15)
        assert message["seq"] == 1 and message["data"]["title"] == "committed, never published"
    finally:
        doomed.kill()
    # Restarted without the fault, the process finds the event it never published.
    restarted = Server(doomed.data_dir, port=doomed.port).start()
    try:
        late = await Socket.open(restarted.ws_url, f"workspaces/{ws}/tasks", alice.token, since=0)
        assert (await late.recv_type("task_update"))["seq"] == 1
        await late.close()
    finally:
        restarted.stop()
    await subscriber.close()


async def test_removal_closes_the_members_sockets_on_every_process(
    pair: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    alice, bob = await apis[0].user(), await apis[0].user()
    ws = await alice.workspace("Team", (bob, "member"))
    socks = [await Socket.open(s.ws_url, f"workspaces/{ws}/tasks", bob.token) for s in pair]
    for sock in socks:
        await sock.recv_type("connected")
    assert (await alice.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    for sock in socks:
        code, _ = await sock.closed_with()
        assert code == 4403
    with pytest.raises(websockets.ConnectionClosed):
        await socks[0].ws.recv()


async def test_workers_flag_runs_several_processes_that_share_events(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = Server(tmp_path_factory.mktemp("workers")).start(workers=2)
    try:
        async with server.api() as api:
            alice = await api.user()
            ws = await alice.workspace()
            socks = [
                await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token)
                for _ in range(6)  # the kernel spreads them over both workers
            ]
            for sock in socks:
                await sock.recv_type("connected")
            await alice.task(ws, title="to everyone")
            for sock in socks:
                assert (await sock.recv_type("task_update"))["seq"] == 1
        assert server.stop() is not None  # SIGTERM stops the supervisor and its workers
        for sock in socks:
            code, _ = await sock.closed_with()
            assert code == 1001
    finally:
        server.kill()


async def test_removal_racing_admission_on_the_other_process_always_ends_the_socket(
    pair: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    alice, bob = await apis[0].user(), await apis[0].user()
    ws = await alice.workspace()
    for i in range(ROUNDS):
        await race_removal_against_admission(alice, bob, ws, pair[1].ws_url, (i % 10) * 0.002)
