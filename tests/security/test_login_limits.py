"""Login and write budgets on real servers: charged before the password is checked (so
concurrency cannot multiply them), shared by every process on PostgreSQL + Redis, per
client address as a trusted proxy reports it, and never a lockout of everyone behind one
address. (Failed logins per address without a proxy: test_limits.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from onetask.config import Settings
from tests.conftest import NAMESPACE, SCALED, Api, User, unique
from tests.e2e.servers import Server

FAILURES_PER_ACCOUNT = 5
LOGINS_PER_ACCOUNT = 8
WRITES_PER_MINUTE = 20
DEFAULT_FAILURES_PER_ADDRESS = Settings.model_fields["login_max_failures_per_address"].default


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two processes sharing Redis and PostgreSQL when the suite runs on them; else one."""
    env = {
        "ONETASK_LOGIN_MAX_FAILURES_PER_ACCOUNT": str(FAILURES_PER_ACCOUNT),
        "ONETASK_LOGIN_MAX_FAILURES_PER_ADDRESS": str(DEFAULT_FAILURES_PER_ADDRESS),
        "ONETASK_LOGINS_PER_ACCOUNT": str(LOGINS_PER_ACCOUNT),
        "ONETASK_WRITES_PER_MINUTE": str(WRITES_PER_MINUTE),
        # Budgets in Redis are shared by every process of a namespace: not with other tests.
        "ONETASK_BROKER_NAMESPACE": f"{NAMESPACE}-limits",
    }
    count = 2 if SCALED else 1
    started = [Server(tmp_path_factory.mktemp(f"limits{i}"), **env) for i in range(count)]
    try:
        yield [server.start() for server in started]
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("proxied"),
        ONETASK_FORWARDED_ALLOW_IPS="127.0.0.1",
        ONETASK_LOGIN_MAX_FAILURES_PER_ADDRESS="3",
        ONETASK_LOGINS_PER_ADDRESS="4",
        ONETASK_BROKER_NAMESPACE=f"{NAMESPACE}-proxied",
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def clients(servers: list[Server]) -> AsyncIterator[list[httpx.AsyncClient]]:
    opened = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in servers]
    yield opened
    for client in opened:
        await client.aclose()


async def login(
    client: httpx.AsyncClient, username: str, password: str = "password123", via: str = ""
) -> httpx.Response:
    headers = {"x-forwarded-for": via} if via else {}
    form = {"username": username, "password": password}
    return await client.post("/api/v1/auth/login", data=form, headers=headers)


def assert_429(r: httpx.Response, detail: str) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert detail in r.json()["detail"]
    assert 1 <= int(r.headers["retry-after"]) <= 300


async def test_concurrent_logins_on_every_process_check_at_most_the_failure_budget(
    clients: list[httpx.AsyncClient],
) -> None:
    alice = await Api(clients[0]).user()
    attempts = [login(clients[i % len(clients)], alice.username, f"guess {i}") for i in range(80)]
    attempts.insert(53, login(clients[-1], alice.username))  # the right password, mid-burst
    answers = await asyncio.gather(*attempts)
    statuses = [r.status_code for r in answers]
    # A 401 or a 200 is a password checked: never more than the budget.
    assert statuses.count(401) + statuses.count(200) <= FAILURES_PER_ACCOUNT, statuses
    for r in answers:
        if r.status_code == 429:
            assert_429(r, "failed logins")


async def test_many_failures_from_one_address_do_not_lock_out_another_user(
    clients: list[httpx.AsyncClient],
) -> None:
    alice = await Api(clients[0]).user()
    # One address guessing over many accounts, or many people behind one proxy.
    gate = asyncio.Semaphore(4)  # a few at a time: each is a password check

    async def guess(i: int) -> int:
        async with gate:
            return (await login(clients[i % len(clients)], unique("nobody"), "guess")).status_code

    assert set(await asyncio.gather(*(guess(i) for i in range(50)))) == {401}
    assert (await login(clients[-1], alice.username)).status_code == 200


async def test_successful_logins_of_one_account_are_limited_too(
    clients: list[httpx.AsyncClient],
) -> None:
    alice, bob = await Api(clients[0]).user(), await Api(clients[0]).user()
    for i in range(LOGINS_PER_ACCOUNT - 1):  # Api.user() logged in once already
        assert (await login(clients[i % len(clients)], alice.username)).status_code == 200
    assert_429(await login(clients[-1], alice.username), "Too many logins")
    assert_429(await login(clients[0], f"{alice.username}@example.com"), "Too many logins")
    assert (await login(clients[-1], bob.username)).status_code == 200


async def wait_out_the_minute_edge() -> None:
    """Write budgets are per calendar minute: start the burst well inside one."""
    left = 60 - time.time() % 60
    if left < 5:
        await asyncio.sleep(left + 0.1)


async def test_writes_past_the_users_budget_are_429_on_every_process(
    clients: list[httpx.AsyncClient],
) -> None:
    api = Api(clients[0])
    alice, bob = await api.user(), await api.user()
    per_process = [User(c, alice.token, alice.refresh, alice.username, alice.id) for c in clients]
    await wait_out_the_minute_edge()
    accepted = 0
    for i in range(WRITES_PER_MINUTE + 5):
        r = await per_process[i % len(per_process)].patch("/users/me", json={"full_name": f"A{i}"})
        if r.status_code == 429:
            assert r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 60
            continue
        assert r.status_code == 200, r.text
        accepted += 1
    assert accepted == WRITES_PER_MINUTE  # one budget, whichever process took the write
    assert (await alice.get("/users/me")).status_code == 200  # reads are not limited
    r = await bob.post("/workspaces", json={"name": "Bob's"})  # nor other users
    assert r.status_code == 201, r.text


async def test_a_trusted_proxy_reports_the_address_each_limit_counts(proxied: Server) -> None:
    async with proxied.api() as api:
        alice = await api.user()
        for _ in range(3):  # failures, spread over accounts, all from one client
            r = await login(api.client, unique("nobody"), "guess", via="203.0.113.7")
            assert r.status_code == 401
        assert_429(await login(api.client, alice.username, via="203.0.113.7"), "failed logins")
        assert (await login(api.client, alice.username, via="203.0.113.8")).status_code == 200
        # Successful logins per address are limited the same way.
        for _ in range(4):
            assert (await login(api.client, alice.username, via="198.51.100.1")).status_code == 200
        assert_429(await login(api.client, alice.username, via="198.51.100.1"), "Too many logins")
        assert (await login(api.client, alice.username, via="198.51.100.2")).status_code == 200
