"""Deliveries to a receiver on 127.0.0.1: signed, retried with backoff, disabled after
failing for too long (the settings in tests/conftest.py: base 0.1 s, retried for 6 s,
2 s per attempt)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from onetask.db.engine import Database
from onetask.db.models import WebhookDelivery
from onetask.db.types import utcnow
from onetask.webhooks import delivery
from onetask.webhooks.delivery import Attempt, Schedule
from onetask.webhooks.sender import Outcome, Sender
from tests.conftest import Api, User
from tests.webhooks.receiver import Answer, Receiver, verify


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


async def _webhook(admin: User, ws: int, url: str, types: list[str]) -> dict[str, Any]:
    r = await admin.post(f"/workspaces/{ws}/webhooks", json={"url": url, "event_types": types})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def _log(admin: User, ws: int, hook: dict[str, Any]) -> list[dict[str, Any]]:
    r = await admin.get(f"/workspaces/{ws}/webhooks/{hook['id']}/deliveries")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _settled(admin: User, ws: int, hook: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """The log once `n` deliveries have ended (succeeded or failed)."""
    for _ in range(1500):
        log = await _log(admin, ws, hook)
        if len([d for d in log if d["status"] != "pending"]) >= n:
            return log
        await asyncio.sleep(0.02)
    raise AssertionError(f"deliveries did not settle: {log}")


async def test_subscribed_events_arrive_signed_once_each(api: Api, receiver: Receiver) -> None:
    owner, other = await api.user(), await api.user()
    ws = await owner.workspace("Signed")
    elsewhere = await other.workspace("Elsewhere")
    hook = await _webhook(owner, ws, receiver.url, ["task.created", "task.completed"])
    task = await owner.task(ws, title="Ship it")
    await other.task(elsewhere, title="Not ours")
    assert (await owner.patch(f"/tasks/{task['id']}", json={"title": "Ship it!"})).is_success
    assert (await owner.post(f"/tasks/{task['id']}/complete")).is_success

    log = await _settled(owner, ws, hook, 2)
    await receiver.wait_for(lambda: len(receiver.received) >= 2)
    assert [r.json["type"] for r in receiver.received] == ["task.created", "task.completed"]
    for r in receiver.received:
        assert verify(hook["secret"], r), r.headers
        assert r.path == "/hook"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["webhook-event"] == r.json["type"]
        assert r.json["id"] == int(r.id)
        assert r.json["workspace_id"] == ws
        assert r.json["data"]["id"] == task["id"]
    created, completed = (r.json for r in receiver.received)
    assert created["data"]["title"] == "Ship it" and completed["data"]["status"] == "done"
    assert completed["seq"] == created["seq"] + 2  # the update between them was not sent
    assert not verify("whsec_wrong", receiver.received[0])
    assert [(d["status"], d["attempts"], d["response_status"]) for d in log] == [
        ("succeeded", 1, 200),
        ("succeeded", 1, 200),
    ]
    assert {d["event_seq"] for d in log} == {created["seq"], completed["seq"]}
    assert all(d["delivered_at"] and d["next_attempt_at"] is None for d in log)


async def test_server_errors_are_retried_then_succeed(api: Api, receiver: Receiver) -> None:
    owner = await api.user()
    ws = await owner.workspace("Flaky")
    receiver.answers = [Answer(500), Answer(503), Answer(302, {"Location": "http://x.invalid/"})]
    hook = await _webhook(owner, ws, receiver.url, ["task_update"])
    await owner.task(ws, title="Eventually")

    [entry] = await _settled(owner, ws, hook, 1)
    assert (entry["status"], entry["attempts"], entry["response_status"]) == ("succeeded", 4, 200)
    assert entry["last_error"] is None
    await receiver.wait_for(lambda: len(receiver.received) == 4)
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1  # the same delivery each time: same id, same body
    assert {r.id for r in receiver.received} == {str(entry["id"])}
    assert all(verify(hook["secret"], r) for r in receiver.received)
    read = (await owner.get(f"/workspaces/{ws}/webhooks/{hook['id']}")).json()
    assert read["enabled"] is True and read["failing_since"] is None
    metrics = (await api.client.get("/metrics")).text
    assert "\nonetask_webhook_attempts_total " in metrics
    assert "\nonetask_webhook_failed_attempts_total " in metrics


async def test_a_receiver_that_does_not_answer_in_time_is_retried(
    api: Api, receiver: Receiver
) -> None:
    owner = await api.user()
    ws = await owner.workspace("Slow")
    receiver.answers = [Answer(200, delay_s=4)]  # past the 2 s limit of an attempt
    hook = await _webhook(owner, ws, receiver.url, ["*"])
    await owner.task(ws)
    [entry] = await _settled(owner, ws, hook, 1)
    assert (entry["status"], entry["attempts"]) == ("succeeded", 2)
    assert len({r.id for r in receiver.received}) == 1


async def test_a_failing_receiver_gets_its_webhook_disabled_and_admins_told(
    api: Api, receiver: Receiver
) -> None:
    owner, admin, member = await api.user(), await api.user(), await api.user()
    ws = await owner.workspace("Broken", (admin, "admin"), (member, "member"))
    receiver.default = Answer(503)
    hook = await _webhook(admin, ws, receiver.url, ["task_update"])
    await owner.task(ws, title="Never arrives")

    [entry] = await _settled(admin, ws, hook, 1)
    assert (entry["status"], entry["response_status"]) == ("failed", 503)
    assert entry["attempts"] >= 3 and "HTTP 503" in entry["last_error"]
    read = (await admin.get(f"/workspaces/{ws}/webhooks/{hook['id']}")).json()
    assert read["enabled"] is False and read["disabled_at"] is not None
    assert read["disabled_reason"].startswith("Deliveries failed for")
    for person in (owner, admin):
        inbox = (await person.get("/notifications")).json()["items"]
        [told] = [n for n in inbox if n["type"] == "system"]
        assert told["title"] == "Webhook disabled"
        assert told["related_entity_type"] == "webhook"
        assert receiver.url in told["content"]
    member_inbox = (await member.get("/notifications")).json()["items"]
    assert [n for n in member_inbox if n["type"] == "system"] == []

    # Disabled, it is sent nothing; enabled again, it is sent what happens from then on.
    seen = len(receiver.received)
    await owner.task(ws, title="While disabled")
    receiver.default = Answer(204)
    path = f"/workspaces/{ws}/webhooks/{hook['id']}"
    assert (await admin.patch(path, json={"enabled": True})).json()["enabled"] is True
    await owner.task(ws, title="After")
    await receiver.wait_for(
        lambda: any(r.json["data"]["title"] == "After" for r in receiver.received)
    )
    titles = [r.json["data"]["title"] for r in receiver.received[seen:]]
    assert "While disabled" not in titles


async def test_a_ping_and_a_redelivery_reach_the_receiver(api: Api, receiver: Receiver) -> None:
    owner = await api.user()
    ws = await owner.workspace("Ping")
    hook = await _webhook(owner, ws, receiver.url, ["task.deleted"])
    path = f"/workspaces/{ws}/webhooks/{hook['id']}"
    r = await owner.post(f"{path}/ping")
    assert r.status_code == 202 and r.json()["status"] == "pending"
    await receiver.wait_for(lambda: len(receiver.received) == 1)
    assert receiver.received[0].json["type"] == "ping"
    assert receiver.received[0].json["data"] == {"webhook_id": hook["id"]}
    await _settled(owner, ws, hook, 1)

    r = await owner.post(f"{path}/deliveries/{r.json()['id']}/redeliver")
    assert r.status_code == 202 and r.json()["status"] == "pending"
    await receiver.wait_for(lambda: len(receiver.received) == 2)
    first, again = receiver.received
    assert (first.id, first.body) == (again.id, again.body)
    assert verify(hook["secret"], again)


async def test_only_one_process_claims_an_attempt_and_a_dead_claim_expires(
    app: FastAPI, api: Api
) -> None:
    """Two processes (two connection pools) race for the same attempt: one gets it. A
    claim whose process never reports back is taken over once its lease has run out."""
    owner = await api.user()
    ws = await owner.workspace("Race")
    hook = await _webhook(owner, ws, "http://127.0.0.1:9/never", ["*"])
    one: Database = app.state.database
    two = Database(app.state.settings)
    schedule: Schedule = app.state.webhooks.schedule
    future = utcnow() + timedelta(days=1)  # past the lease of every claim the app makes
    try:
        async with one.session(write=True) as session:
            row = WebhookDelivery(
                webhook_id=hook["id"],
                event_type="ping",
                payload='{"type":"ping"}',
                status="pending",
                attempts=0,
                next_attempt_at=future,
                retry_until=future + timedelta(days=1),
            )
            session.add(row)
            await session.commit()

        async def claim(database: Database, now: datetime) -> Attempt | bool:
            async with database.session(write=True) as session:
                claimed = await delivery.claim(session, row.id, now, schedule)
                await session.commit()
                return claimed

        results = await asyncio.gather(claim(one, future), claim(two, future))
        attempts = [r for r in results if isinstance(r, Attempt)]
        assert len(attempts) == 1 and attempts[0].number == 1
        assert results.count(False) == 1
        assert await claim(two, future + timedelta(seconds=schedule.lease_s / 2)) is False
        taken_over = await claim(two, future + timedelta(seconds=schedule.lease_s))
        assert isinstance(taken_over, Attempt) and taken_over.number == 2
        assert taken_over.body == attempts[0].body
    finally:
        await two.dispose()
        async with one.session(write=True) as session:
            await session.delete(await session.get(WebhookDelivery, row.id))
            await session.commit()


def test_the_retry_delays_double_with_jitter_up_to_the_cap() -> None:
    schedule = Schedule(base_s=10, max_delay_s=3600, retry_for_s=86400, lease_s=60)
    for attempt, full in [(1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (500, 3600)]:
        delays = [schedule.delay_after(attempt) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered


async def test_the_readme_recipe_verifies_a_delivery(api: Api, receiver: Receiver) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Webhooks") :]
    recipe = section[section.index("```python") + len("```python") : section.index("```\n")]
    namespace: dict[str, Any] = {}
    exec(compile(recipe, "README.md", "exec"), namespace)
    readme_verify = namespace["verify"]

    owner = await api.user()
    ws = await owner.workspace("Recipe")
    hook = await _webhook(owner, ws, receiver.url, ["*"])
    await owner.post(f"/workspaces/{ws}/webhooks/{hook['id']}/ping")
    await receiver.wait_for(lambda: len(receiver.received) == 1)
    [got] = receiver.received
    assert readme_verify(hook["secret"], got.headers, got.body) is True
    assert readme_verify("whsec_another", got.headers, got.body) is False
    assert readme_verify(hook["secret"], got.headers, got.body + b" ") is False
    stale = {
        **got.headers,
        "webhook-signature": got.headers["webhook-signature"].replace(
            f"t={got.headers['webhook-timestamp']}", "t=1000000000"
        ),
    }
    assert readme_verify(hook["secret"], stale, got.body) is False


async def test_a_host_outside_the_allow_list_is_never_called() -> None:
    """Checked again when sent: the list may have changed since the URL was set."""
    sender = Sender(2, 1, frozenset({"127.0.0.1"}))
    try:
        outcome = await sender.post("http://10.255.255.1/hook", {}, b"{}")
    finally:
        await sender.aclose()
    assert outcome == Outcome(False, None, "10.255.255.1 is not in ONETASK_WEBHOOK_ALLOWED_HOSTS.")
