"""Managing webhooks: owners and admins only, secrets shown once, bad input 422."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, User

RECEIVER = "http://127.0.0.1:9/hook"  # never called: these webhooks get no events


async def _webhook(admin: User, ws: int, **fields: Any) -> dict[str, Any]:
    body = {"url": RECEIVER, "event_types": ["task_update"], **fields}
    r = await admin.post(f"/workspaces/{ws}/webhooks", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_an_admin_creates_reads_changes_and_deletes_a_webhook(api: Api) -> None:
    owner, admin = await api.user(), await api.user()
    ws = await owner.workspace("Hooks", (admin, "admin"))
    created = await _webhook(admin, ws, event_types=["task.created", "task_update", "task.created"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    assert created["secret_hint"] == "…" + created["secret"][-4:]
    assert created["event_types"] == ["task.created", "task_update"]
    assert created["enabled"] is True and created["workspace_id"] == ws
    path = f"/workspaces/{ws}/webhooks/{created['id']}"

    read = (await owner.get(path)).json()
    assert "secret" not in read  # shown once, at creation
    assert read["url"] == RECEIVER
    listed = (await owner.get(f"/workspaces/{ws}/webhooks")).json()
    assert [w["id"] for w in listed] == [created["id"]]

    r = await admin.patch(
        path, json={"url": "https://127.0.0.1:8443/in", "event_types": ["*"], "enabled": False}
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["url"] == "https://127.0.0.1:8443/in" and changed["event_types"] == ["*"]
    assert changed["enabled"] is False and changed["disabled_reason"] == "Disabled by an admin."
    assert (await admin.post(f"{path}/ping")).status_code == 409  # disabled
    r = await admin.patch(path, json={"enabled": True, "secret": "s" * 20})
    assert r.json()["enabled"] is True and r.json()["disabled_at"] is None
    assert r.json()["secret_hint"] == "…ssss"

    assert (await admin.delete(path)).status_code == 204
    assert (await admin.get(path)).status_code == 404
    assert (await admin.get(f"/workspaces/{ws}/webhooks")).json() == []


async def test_a_given_secret_is_kept(api: Api) -> None:
    owner = await api.user()
    ws = await owner.workspace()
    secret = "my-own-secret-0123456789"
    assert (await _webhook(owner, ws, secret=secret))["secret"] == secret


async def test_members_are_refused_and_outsiders_see_nothing(api: Api) -> None:
    owner, member, outsider = await api.user(), await api.user(), await api.user()
    ws = await owner.workspace("Hooks", (member, "member"))
    hook = await _webhook(owner, ws)
    ping = await owner.post(f"/workspaces/{ws}/webhooks/{hook['id']}/ping")
    assert ping.status_code == 202, ping.text
    base = f"/workspaces/{ws}/webhooks"
    one = f"{base}/{hook['id']}"
    calls = [
        ("GET", base, None),
        ("POST", base, {"url": RECEIVER, "event_types": ["*"]}),
        ("GET", one, None),
        ("PATCH", one, {"enabled": False}),
        ("DELETE", one, None),
        ("GET", f"{one}/deliveries", None),
        ("POST", f"{one}/ping", None),
        ("POST", f"{one}/deliveries/{ping.json()['id']}/redeliver", None),
    ]
    for method, path, body in calls:
        r = await member.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        r = await outsider.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
    assert (await owner.get(one)).json()["enabled"] is True  # nothing changed


async def test_another_workspaces_webhook_is_not_found(api: Api) -> None:
    """An admin of two workspaces cannot reach one's webhook through the other."""
    admin = await api.user()
    mine, other = await admin.workspace("Mine"), await admin.workspace("Other")
    hook = await _webhook(admin, other)
    r = await admin.get(f"/workspaces/{mine}/webhooks/{hook['id']}")
    assert r.status_code == 404
    assert r.json()["detail"] == "No such webhook in this workspace."
    r = await admin.post(f"/workspaces/{other}/webhooks/{hook['id']}/deliveries/999/redeliver")
    assert r.status_code == 404
    assert (await admin.get(f"/workspaces/{mine}/webhooks/{2**31}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://127.0.0.1/x", "event_types": ["*"]}, "url"),
        ({"url": "http:///nohost", "event_types": ["*"]}, "url"),
        ({"url": "http://user:pw@127.0.0.1/x", "event_types": ["*"]}, "url"),
        ({"url": "http://127.0.0.1:99999/x", "event_types": ["*"]}, "url"),
        ({"url": "http://127.0.0.1/a b", "event_types": ["*"]}, "url"),
        ({"url": "not a url", "event_types": ["*"]}, "url"),
        ({"url": "https://example.com/hook", "event_types": ["*"]}, "url"),  # not allowed here
        ({"url": "http://127.0.0.1/" + "x" * 2100, "event_types": ["*"]}, "url"),
        ({"url": RECEIVER, "event_types": ["task.exploded"]}, "event_types"),
        ({"url": RECEIVER, "event_types": []}, "event_types"),
        ({"url": RECEIVER}, "event_types"),
        ({"url": RECEIVER, "event_types": ["*"], "secret": "short"}, "secret"),
        ({"url": RECEIVER, "event_types": ["*"], "secret": "with spaces inside it"}, "secret"),
        ({"url": RECEIVER, "event_types": ["*"], "colour": "red"}, "colour"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    owner = await api.user()
    ws = await owner.workspace()
    r = await owner.post(f"/workspaces/{ws}/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert any(field in e["loc"] for e in r.json()["errors"]), r.json()


async def test_an_unknown_event_type_is_named_with_the_known_ones(api: Api) -> None:
    owner = await api.user()
    ws = await owner.workspace()
    r = await owner.post(
        f"/workspaces/{ws}/webhooks", json={"url": RECEIVER, "event_types": ["task.exploded"]}
    )
    assert "task.exploded" in r.json()["detail"] and "task.created" in r.json()["detail"]


async def test_bad_changes_and_queries_are_422(api: Api) -> None:
    owner = await api.user()
    ws = await owner.workspace()
    hook = await _webhook(owner, ws)
    one = f"/workspaces/{ws}/webhooks/{hook['id']}"
    for patch in (
        {"url": "http://10.0.0.1/"},
        {"url": None},
        {"enabled": None},
        {"event_types": ["nope"]},
        {"x": 1},
    ):
        r = await owner.patch(one, json=patch)
        assert r.status_code == 422, (patch, r.text)
    for query in ("status=lost", "limit=0", "limit=201", "cursor=%%%", "cursor=eyJ4IjoxfQ"):
        r = await owner.get(f"{one}/deliveries?{query}")
        assert r.status_code == 422, (query, r.text)
    assert (await owner.get(one)).json()["url"] == RECEIVER


async def test_a_workspace_has_at_most_20_webhooks(api: Api) -> None:
    owner = await api.user()
    ws = await owner.workspace()
    for _ in range(20):
        await _webhook(owner, ws)
    r = await owner.post(f"/workspaces/{ws}/webhooks", json={"url": RECEIVER, "event_types": ["*"]})
    assert r.status_code == 409, r.text


async def test_the_delivery_log_pages_newest_first(api: Api) -> None:
    owner = await api.user()
    ws = await owner.workspace()
    hook = await _webhook(owner, ws, enabled=True)
    one = f"/workspaces/{ws}/webhooks/{hook['id']}"
    ids = [(await owner.post(f"{one}/ping")).json()["id"] for _ in range(3)]
    first = (await owner.get(f"{one}/deliveries?limit=2")).json()
    assert [d["id"] for d in first["items"]] == ids[::-1][:2]
    rest = (await owner.get(f"{one}/deliveries?limit=2&cursor={first['next_cursor']}")).json()
    assert [d["id"] for d in rest["items"]] == ids[:1] and rest["next_cursor"] is None
    entry = first["items"][0]
    assert entry["event_type"] == "ping" and entry["event_seq"] is None
    assert set(entry) >= {
        "status", "attempts", "response_status", "last_error", "next_attempt_at",
        "created_at", "last_attempt_at", "delivered_at", "retry_until",
    }  # fmt: skip
