"""Registration, login, token rotation, profile and login rate limiting over REST."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update

from onetask.app import create_app
from onetask.auth import service, tokens
from onetask.auth.tokens import issue_access_token
from onetask.db.models import RefreshToken
from tests.conftest import SECRET, Api, make_settings, unique

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["type"].startswith("https://")
    return body


def invalid_fields(r: httpx.Response) -> set[str]:
    body = assert_problem(r, 422)
    return {str(e["loc"][-1]) for e in body["errors"]}


async def register(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    name = unique()
    body = {"email": f"{name}@example.com", "username": name, "password": "password123"}
    return await client.post("/api/v1/auth/register", json={**body, **fields})


async def login(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", data={"username": login, "password": password})


async def me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {access_token}"})


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


# --- registration -------------------------------------------------------------------


async def test_register_returns_the_new_user_without_secrets(client: httpx.AsyncClient) -> None:
    name = unique()
    r = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"  {name.upper()}@Example.COM ",
            "username": name,
            "password": "correct horse",
            "full_name": "Alice Liddell",
        },
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["email"] == f"{name}@example.com"  # normalized
    assert user["username"] == name and user["full_name"] == "Alice Liddell"
    assert user["timezone"] == "UTC" and isinstance(user["id"], int)
    assert not {"password", "password_hash"} & set(user)


async def test_register_rejects_a_taken_email_or_username_whatever_the_case(
    client: httpx.AsyncClient,
) -> None:
    name = unique()
    first = await register(client, email=f"{name}@example.com", username=name)
    assert first.status_code == 201

    same_email = await register(client, email=f"{name.upper()}@EXAMPLE.com")
    assert "email" in assert_problem(same_email, 409)["detail"]
    same_username = await register(client, username=name.upper())
    assert "username" in assert_problem(same_username, 409)["detail"]


async def test_concurrent_registrations_of_one_username_create_exactly_one_account(
    client: httpx.AsyncClient,
) -> None:
    name = unique()
    attempts = [register(client, username=name, email=f"{name}{i}@example.com") for i in range(4)]
    statuses = sorted(r.status_code for r in await asyncio.gather(*attempts))
    assert statuses == [201, 409, 409, 409]


@pytest.mark.parametrize(
    ("fields", "invalid"),
    [
        ({"username": "ab"}, {"username"}),
        ({"username": "has space"}, {"username"}),
        ({"username": "x" * 33}, {"username"}),
        ({"username": "émile"}, {"username"}),
        ({"password": "short"}, {"password"}),
        ({"email": "not-an-email"}, {"email"}),
        ({"email": "nul\u0000@example.com"}, {"email"}),
        ({"timezone": "Mars/Olympus_Mons"}, {"timezone"}),
        ({"full_name": "a\u0000b"}, {"full_name"}),
        ({"is_admin": True}, {"is_admin"}),
        ({"username": "ab", "password": "short"}, {"username", "password"}),
    ],
)
async def test_register_with_invalid_fields_is_a_422_problem_listing_each_field(
    client: httpx.AsyncClient, fields: dict[str, Any], invalid: set[str]
) -> None:
    assert invalid_fields(await register(client, **fields)) == invalid


async def test_register_with_a_body_that_is_not_json_is_a_422_problem(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/api/v1/auth/register", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_problem(r, 422)


# --- login --------------------------------------------------------------------------


async def test_login_with_username_or_email_in_any_case_returns_a_token_pair(
    client: httpx.AsyncClient,
) -> None:
    name = unique()
    created = await register(
        client, username=name, email=f"{name}@example.com", password="correct horse"
    )
    assert created.status_code == 201

    for identifier in (name, name.upper(), f"{name}@example.com", f"{name.upper()}@EXAMPLE.COM"):
        r = await login(client, identifier, "correct horse")
        assert r.status_code == 200, (identifier, r.text)
        pair = r.json()
        assert pair["token_type"] == "bearer" and pair["expires_in"] == 900
        assert pair["access_token"] != pair["refresh_token"]
        profile = await me(client, pair["access_token"])
        assert profile.status_code == 200 and profile.json()["username"] == name


async def test_wrong_password_and_unknown_account_are_the_same_401_problem(
    client: httpx.AsyncClient,
) -> None:
    name = unique()
    await register(client, username=name)
    wrong = await login(client, name, "not the password")
    unknown = await login(client, unique(), "password123")
    for r in (wrong, unknown):
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_login_without_the_form_fields_is_a_422_problem(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/login", data={"username": "someone"})
    assert invalid_fields(r) == {"password"}


async def test_login_with_a_nul_in_the_username_is_refused_not_a_crash(
    client: httpx.AsyncClient,
) -> None:
    assert_problem(await login(client, "nul\u0000name", "password123"), 401)


def hold(monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Make `service.<name>` (a password hash or check) wait, once entered, for release."""
    entered, release = asyncio.Event(), asyncio.Event()
    real = getattr(service, name)

    async def held(*args: Any) -> Any:
        entered.set()
        await release.wait()
        return await real(*args)

    monkeypatch.setattr(service, name, held)
    return entered, release


@pytest.mark.parametrize("step", ["login", "register"])
async def test_task_changes_go_on_while_a_password_is_hashed_or_checked(
    api: Api, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """argon2 takes tens of milliseconds. On SQLite a sign-up or sign-in used to hold the
    write lock (and this process's one writing connection) all that time."""
    owner = await api.user()
    task = await owner.task(await owner.workspace())
    name = unique()
    if step == "login":
        assert (await register(client, username=name)).status_code == 201
    entered, release = hold(monkeypatch, "verify_password" if step == "login" else "hash_password")
    signing = asyncio.create_task(
        login(client, name, "password123") if step == "login" else register(client, username=name)
    )
    try:
        await asyncio.wait_for(entered.wait(), 10)
        change = owner.patch(f"/tasks/{task['id']}", json={"title": "Meanwhile"})
        assert (await asyncio.wait_for(change, 5)).status_code == 200
    finally:
        release.set()
    assert (await signing).status_code == (200 if step == "login" else 201)


async def test_an_account_deleted_while_its_password_is_checked_gets_a_401(
    app: FastAPI, api: Api, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = await api.user()
    entered, release = hold(monkeypatch, "verify_password")
    signing = asyncio.create_task(login(client, gone.username, "password123"))
    try:
        await asyncio.wait_for(entered.wait(), 10)
        async with app.state.database.writes() as session:
            await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone.id})
            await session.commit()
    finally:
        release.set()
    body = assert_problem(await signing, 401)
    assert body["detail"] == "The account no longer exists."


# --- refresh tokens -----------------------------------------------------------------


async def test_refresh_rotates_the_pair(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.user()
    r = await refresh(client, alice.refresh)
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["refresh_token"] != alice.refresh
    assert (await me(client, pair["access_token"])).json()["id"] == alice.id
    again = await refresh(client, pair["refresh_token"])
    assert again.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_its_whole_family(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice = await api.user()
    other_login = (await login(client, alice.username, "password123")).json()
    rotated = (await refresh(client, alice.refresh)).json()

    reused = await refresh(client, alice.refresh)  # an attacker replays the old token
    assert_problem(reused, 401)
    # ...so the token the legitimate rotation handed out is dead too:
    assert_problem(await refresh(client, rotated["refresh_token"]), 401)
    # but another login of the same user (another family) is untouched.
    assert (await refresh(client, other_login["refresh_token"])).status_code == 200


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 201])
async def test_refresh_with_a_bad_token_is_a_problem(client: httpx.AsyncClient, token: str) -> None:
    r = await refresh(client, token)
    assert r.status_code in (401, 422)
    assert_problem(r, r.status_code)


async def family_rows(app: FastAPI, user_id: int) -> dict[str, int]:
    async with app.state.database.writes() as session:
        rows = await session.execute(
            text("SELECT family_id, count(*) FROM refresh_tokens WHERE user_id = :id GROUP BY 1"),
            {"id": user_id},
        )
        return {family: count for family, count in rows}


async def test_dead_refresh_token_families_are_deleted_and_live_ones_kept_whole(
    app: FastAPI, api: Api, client: httpx.AsyncClient
) -> None:
    alice = await api.user()  # family A, rotated twice: two used rows and a live one
    first = alice.refresh
    second = (await refresh(client, first)).json()["refresh_token"]
    live = (await refresh(client, second)).json()["refresh_token"]
    logged_out = (await login(client, alice.username, "password123")).json()["refresh_token"]
    await client.post("/api/v1/auth/logout", json={"refresh_token": logged_out})
    expired = (await login(client, alice.username, "password123")).json()["refresh_token"]
    async with app.state.database.writes() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == tokens.refresh_token_digest(expired))
            .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
        await session.commit()
    assert sorted((await family_rows(app, alice.id)).values()) == [1, 1, 3]

    await app.state.refresh_token_janitor.purge()
    assert list((await family_rows(app, alice.id)).values()) == [3]  # only the live family
    # Reuse detection still sees the rotated token and ends the family...
    assert_problem(await refresh(client, first), 401)
    assert_problem(await refresh(client, live), 401)
    # ...which, dead now, goes at the next purge.
    await app.state.refresh_token_janitor.purge()
    assert await family_rows(app, alice.id) == {}


async def test_logout_revokes_the_refresh_token_and_its_family(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice = await api.user()
    rotated = (await refresh(client, alice.refresh)).json()
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 204 and r.content == b""
    assert_problem(await refresh(client, rotated["refresh_token"]), 401)
    # Logging out twice, or with an unknown token, is not an error.
    again = await client.post("/api/v1/auth/logout", json={"refresh_token": "unknown"})
    assert again.status_code == 204


# --- /users/me ----------------------------------------------------------------------


async def test_read_and_update_my_profile(api: Api) -> None:
    alice = await api.user()
    r = await alice.get("/users/me")
    assert r.status_code == 200 and r.json()["username"] == alice.username

    r = await alice.patch("/users/me", json={"full_name": "Alice L.", "timezone": "Europe/Paris"})
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "Alice L." and r.json()["timezone"] == "Europe/Paris"
    assert (await alice.get("/users/me")).json()["timezone"] == "Europe/Paris"

    cleared = await alice.patch("/users/me", json={"full_name": None})
    assert cleared.json()["full_name"] is None
    assert cleared.json()["timezone"] == "Europe/Paris"  # fields not sent are kept


@pytest.mark.parametrize(
    ("patch", "invalid"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"full_name": "x" * 201}, "full_name"),
        ({"email": "new@example.com"}, "email"),
    ],
)
async def test_invalid_profile_updates_are_422_and_change_nothing(
    api: Api, patch: dict[str, Any], invalid: str
) -> None:
    alice = await api.user()
    before = (await alice.get("/users/me")).json()
    assert invalid in invalid_fields(await alice.patch("/users/me", json=patch))
    assert (await alice.get("/users/me")).json() == before


async def test_a_null_timezone_is_refused(api: Api) -> None:
    alice = await api.user()
    assert_problem(await alice.patch("/users/me", json={"timezone": None}), 422)
    assert (await alice.get("/users/me")).json()["timezone"] == "UTC"


# --- access tokens ------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(user_id: int) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(user_id), "iat": now, "exp": now + 600, "typ": "access"}


async def test_missing_token_is_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/users/me")
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


async def test_an_expired_access_token_is_401(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.user()
    expired = issue_access_token(alice.id, SECRET, ttl_s=-1)
    body = assert_problem(await me(client, expired), 401)
    assert "expired" in body["detail"]


async def test_an_access_token_expires_even_after_it_was_accepted(
    api: Api, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await api.user()
    token = issue_access_token(alice.id, SECRET, ttl_s=60)
    assert (await me(client, token)).status_code == 200
    assert (await me(client, token)).status_code == 200  # the second use is remembered
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    body = assert_problem(await me(client, token), 401)
    assert "expired" in body["detail"]


def test_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_MAX", 3)
    monkeypatch.setattr(tokens, "_VERIFIED", {})
    issued = [issue_access_token(user_id, SECRET, 60) for user_id in range(1, 6)]
    claims = [tokens.decode_access_token(token, SECRET) for token in issued]
    assert [c.user_id for c in claims] == [1, 2, 3, 4, 5]
    assert list(tokens._VERIFIED) == [(SECRET, t) for t in issued[2:]]
    with pytest.raises(tokens.InvalidToken):  # the same token under another key
        tokens.decode_access_token(issued[-1], "another-secret-" + "y" * 40)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda uid: jwt.encode(_claims(uid), "another-secret-" + "y" * 40, algorithm="HS256"),
            id="signed-with-another-key",
        ),
        pytest.param(
            lambda uid: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(uid))}.",
            id="alg-none",
        ),
        pytest.param(
            lambda uid: jwt.encode(_claims(uid), SECRET, algorithm="HS384"),
            id="other-algorithm",
        ),
        pytest.param(
            lambda uid: jwt.encode({**_claims(uid), "typ": "refresh"}, SECRET, algorithm="HS256"),
            id="not-an-access-token",
        ),
        pytest.param(
            lambda uid: jwt.encode(
                {k: v for k, v in _claims(uid).items() if k != "exp"}, SECRET, algorithm="HS256"
            ),
            id="no-expiry",
        ),
        pytest.param(
            lambda uid: jwt.encode({**_claims(uid), "sub": "2147483000"}, SECRET, "HS256"),
            id="no-such-user",
        ),
        pytest.param(lambda uid: "garbage", id="garbage"),
    ],
)
async def test_forged_or_foreign_access_tokens_are_401(
    api: Api, client: httpx.AsyncClient, forge: Any
) -> None:
    alice = await api.user()
    assert (await me(client, issue_access_token(alice.id, SECRET, 60))).status_code == 200
    assert_problem(await me(client, forge(alice.id)), 401)


async def test_a_refresh_token_is_not_an_access_token(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.user()
    assert_problem(await me(client, alice.refresh), 401)


# --- login rate limiting ------------------------------------------------------------


@pytest.fixture(scope="module")
async def strict_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """An app that allows 3 failed logins per account per window."""
    data_dir: Path = tmp_path_factory.mktemp("strict")
    application = create_app(make_settings(data_dir, login_max_failures_per_account=3))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def strict(strict_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_too_many_failed_logins_for_an_account_are_429_with_retry_after(
    strict: httpx.AsyncClient,
) -> None:
    name, bystander = unique(), unique()
    await register(strict, username=name, email=f"{name}@example.com")
    await register(strict, username=bystander, email=f"{bystander}@example.com")

    # Three failures, by username and by email alike: the budget is the account's.
    for identifier in (name, f"{name}@example.com", name.upper()):
        assert_problem(await login(strict, identifier, "wrong password"), 401)

    for identifier in (name, f"{name}@example.com"):
        limited = await login(strict, identifier, "password123")  # even the right password
        assert_problem(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 300

    # Other accounts are not locked out by it.
    assert (await login(strict, bystander, "password123")).status_code == 200


async def test_concurrent_logins_check_no_more_passwords_than_the_failure_budget(
    strict: httpx.AsyncClient,
) -> None:
    name = unique()
    await register(strict, username=name)
    guesses = [login(strict, name, f"guess {i}") for i in range(60)]
    guesses.insert(37, login(strict, name, "password123"))
    answers = await asyncio.gather(*guesses)
    statuses = [r.status_code for r in answers]
    # Each 401 or 200 is a password checked; the budget is 3 whatever the concurrency.
    assert statuses.count(401) + statuses.count(200) <= 3, statuses
    assert statuses.count(429) >= 58
    assert all(1 <= int(r.headers["retry-after"]) <= 300 for r in answers if r.status_code == 429)


async def test_failures_below_the_limit_do_not_block_a_correct_login(
    strict: httpx.AsyncClient,
) -> None:
    name = unique()
    await register(strict, username=name)
    for _ in range(2):
        assert_problem(await login(strict, name, "wrong password"), 401)
    assert (await login(strict, name, "password123")).status_code == 200
