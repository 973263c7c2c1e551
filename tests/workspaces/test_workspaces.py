"""Workspaces and memberships: who may do what (PRODUCT.md §2), over REST."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import Api, User

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"]
    return body


async def roles(owner: User, ws: int) -> dict[int, str]:
    r = await owner.get(f"/workspaces/{ws}/members")
    assert r.status_code == 200, r.text
    return {m["user_id"]: m["role"] for m in r.json()}


async def test_the_creator_owns_a_new_workspace_and_sees_it_in_their_list(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    r = await alice.post("/workspaces", json={"name": "  Launch  ", "description": "Q3"})
    assert r.status_code == 201, r.text
    ws = r.json()
    assert ws["name"] == "Launch" and ws["description"] == "Q3"
    assert ws["owner_id"] == alice.id and ws["role"] == "owner"
    assert await roles(alice, ws["id"]) == {alice.id: "owner"}

    mine = (await alice.get("/workspaces")).json()
    assert [(w["id"], w["role"]) for w in mine] == [(ws["id"], "owner")]
    assert (await bob.get("/workspaces")).json() == []


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": "a\u0000b"}]
)
async def test_a_workspace_needs_a_valid_name(api: Api, body: dict[str, Any]) -> None:
    alice = await api.user()
    assert_problem(await alice.post("/workspaces", json=body), 422)


async def test_admins_rename_members_may_not_and_null_name_is_refused(api: Api) -> None:
    alice, admin, member = await api.user(), await api.user(), await api.user()
    ws = await alice.workspace("Old", (admin, "admin"), (member, "member"))

    r = await admin.patch(f"/workspaces/{ws}", json={"name": "New", "description": "d"})
    assert r.status_code == 200 and r.json()["name"] == "New" and r.json()["role"] == "admin"
    assert_problem(await member.patch(f"/workspaces/{ws}", json={"name": "Mine"}), 403)
    assert_problem(await alice.patch(f"/workspaces/{ws}", json={"name": None}), 422)
    cleared = await alice.patch(f"/workspaces/{ws}", json={"description": None})
    assert cleared.json()["description"] is None
    assert (await member.get(f"/workspaces/{ws}")).json()["name"] == "New"


async def test_add_members_by_username_or_email_in_any_case(api: Api) -> None:
    alice, bob, carol = await api.user(), await api.user(), await api.user()
    ws = await alice.workspace()

    r = await alice.post(f"/workspaces/{ws}/members", json={"username": bob.username.upper()})
    assert r.status_code == 201, r.text
    assert r.json()["user_id"] == bob.id and r.json()["role"] == "member"
    assert r.json()["username"] == bob.username
    by_email = {"email": f"{carol.username.upper()}@EXAMPLE.com", "role": "admin"}
    r = await alice.post(f"/workspaces/{ws}/members", json=by_email)
    assert r.status_code == 201, r.text
    assert await roles(alice, ws) == {alice.id: "owner", bob.id: "member", carol.id: "admin"}
    assert ws in [w["id"] for w in (await bob.get("/workspaces")).json()]


async def test_adding_an_existing_member_is_409_and_an_unknown_user_is_404(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "member"))

    assert_problem(
        await alice.post(f"/workspaces/{ws}/members", json={"username": bob.username}), 409
    )
    assert_problem(
        await alice.post(f"/workspaces/{ws}/members", json={"username": alice.username}), 409
    )
    assert_problem(
        await alice.post(f"/workspaces/{ws}/members", json={"username": "nobody_x"}), 404
    )
    unknown_email = {"email": "nobody@nowhere.example"}
    assert_problem(await alice.post(f"/workspaces/{ws}/members", json=unknown_email), 404)
    assert await roles(alice, ws) == {alice.id: "owner", bob.id: "member"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"role": "member"},
        {"username": "bob_x", "email": "bob@example.com"},
        {"username": "bob_x", "role": "superuser"},
        {"username": "not a username"},
        {"email": "not-an-email"},
        {"username": "a\u0000b"},
    ],
)
async def test_adding_a_member_with_invalid_input_is_422(api: Api, body: dict[str, Any]) -> None:
    alice = await api.user()
    ws = await alice.workspace()
    assert_problem(await alice.post(f"/workspaces/{ws}/members", json=body), 422)


async def test_concurrent_adds_of_one_user_make_one_membership(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace()
    add = {"username": bob.username}
    adds = [alice.post(f"/workspaces/{ws}/members", json=add) for _ in range(3)]
    statuses = sorted(r.status_code for r in await asyncio.gather(*adds))
    assert statuses == [201, 409, 409]


async def test_admins_manage_members_but_not_the_owner_role(api: Api) -> None:
    owner, admin, member, newcomer = await asyncio.gather(*(api.user() for _ in range(4)))
    ws = await owner.workspace("T", (admin, "admin"), (member, "member"))
    path = f"/workspaces/{ws}/members"

    assert_problem(
        await admin.post(path, json={"username": newcomer.username, "role": "owner"}), 403
    )
    r = await admin.post(path, json={"username": newcomer.username, "role": "admin"})
    assert r.status_code == 201
    assert (await admin.patch(f"{path}/{newcomer.id}", json={"role": "member"})).status_code == 200
    assert_problem(await admin.patch(f"{path}/{member.id}", json={"role": "owner"}), 403)
    assert_problem(await admin.patch(f"{path}/{owner.id}", json={"role": "member"}), 403)
    assert_problem(await admin.delete(f"{path}/{owner.id}"), 403)
    assert_problem(await admin.patch(f"{path}/{admin.id}", json={"role": "owner"}), 403)
    assert (await admin.delete(f"{path}/{newcomer.id}")).status_code == 204
    assert await roles(owner, ws) == {owner.id: "owner", admin.id: "admin", member.id: "member"}


async def test_members_cannot_manage_members(api: Api) -> None:
    owner, member, other, newcomer = await asyncio.gather(*(api.user() for _ in range(4)))
    ws = await owner.workspace("T", (member, "member"), (other, "member"))
    path = f"/workspaces/{ws}/members"

    assert_problem(await member.post(path, json={"username": newcomer.username}), 403)
    assert_problem(await member.patch(f"{path}/{other.id}", json={"role": "admin"}), 403)
    assert_problem(await member.patch(f"{path}/{member.id}", json={"role": "admin"}), 403)
    assert_problem(await member.delete(f"{path}/{other.id}"), 403)
    before = await roles(owner, ws)
    assert before == {owner.id: "owner", member.id: "member", other.id: "member"}
    assert len((await member.get(path)).json()) == 3  # but they see who is in


async def test_the_owner_grants_the_owner_role(api: Api) -> None:
    owner, bob = await api.user(), await api.user()
    ws = await owner.workspace("T", (bob, "member"))
    r = await owner.patch(f"/workspaces/{ws}/members/{bob.id}", json={"role": "owner"})
    assert r.status_code == 200 and r.json()["role"] == "owner"
    assert (await bob.get(f"/workspaces/{ws}")).json()["role"] == "owner"


async def test_a_member_may_leave_and_then_sees_nothing_of_the_workspace(api: Api) -> None:
    owner, bob = await api.user(), await api.user()
    ws = await owner.workspace("T", (bob, "member"))
    task = await owner.task(ws)

    assert (await bob.delete(f"/workspaces/{ws}/members/{bob.id}")).status_code == 204
    assert await roles(owner, ws) == {owner.id: "owner"}
    assert (await bob.get("/workspaces")).json() == []
    assert_problem(await bob.get(f"/workspaces/{ws}"), 404)
    assert_problem(await bob.get(f"/tasks/{task['id']}"), 404)


async def test_an_admin_may_leave(api: Api) -> None:
    owner, admin = await api.user(), await api.user()
    ws = await owner.workspace("T", (admin, "admin"))
    assert (await admin.delete(f"/workspaces/{ws}/members/{admin.id}")).status_code == 204
    assert await roles(owner, ws) == {owner.id: "owner"}


async def test_the_last_owner_can_neither_leave_nor_be_demoted(api: Api) -> None:
    owner, bob = await api.user(), await api.user()
    ws = await owner.workspace("T", (bob, "admin"))
    path = f"/workspaces/{ws}/members/{owner.id}"

    assert_problem(await owner.delete(path), 409)
    assert_problem(await owner.patch(path, json={"role": "admin"}), 409)
    assert await roles(owner, ws) == {owner.id: "owner", bob.id: "admin"}


async def test_with_a_second_owner_the_first_may_leave_and_ownership_passes_on(api: Api) -> None:
    owner, bob = await api.user(), await api.user()
    ws = await owner.workspace("T", (bob, "member"))
    await owner.patch(f"/workspaces/{ws}/members/{bob.id}", json={"role": "owner"})

    assert (await owner.delete(f"/workspaces/{ws}/members/{owner.id}")).status_code == 204
    workspace = (await bob.get(f"/workspaces/{ws}")).json()
    assert workspace["owner_id"] == bob.id  # never a user who is no longer in it
    assert_problem(await bob.delete(f"/workspaces/{ws}/members/{bob.id}"), 409)


async def test_a_demoted_owner_hands_owner_id_to_the_remaining_owner(api: Api) -> None:
    owner, bob = await api.user(), await api.user()
    ws = await owner.workspace("T", (bob, "owner"))
    r = await bob.patch(f"/workspaces/{ws}/members/{owner.id}", json={"role": "admin"})
    assert r.status_code == 200
    assert (await owner.get(f"/workspaces/{ws}")).json()["owner_id"] == bob.id
    assert_problem(
        await bob.patch(f"/workspaces/{ws}/members/{bob.id}", json={"role": "admin"}), 409
    )


async def test_two_owners_stepping_down_at_once_leave_one_owner(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    ws = await alice.workspace("T", (bob, "owner"))
    results = await asyncio.gather(
        alice.patch(f"/workspaces/{ws}/members/{alice.id}", json={"role": "member"}),
        bob.delete(f"/workspaces/{ws}/members/{bob.id}"),
    )
    assert sorted(r.status_code for r in results) in ([200, 409], [204, 409])
    remaining = await roles(alice, ws) if results[0].status_code == 409 else await roles(bob, ws)
    assert list(remaining.values()).count("owner") == 1


async def test_only_an_owner_deletes_a_workspace_and_its_tasks_go_with_it(api: Api) -> None:
    owner, admin, member = await asyncio.gather(*(api.user() for _ in range(3)))
    ws = await owner.workspace("T", (admin, "admin"), (member, "member"))
    task = await member.task(ws)

    assert_problem(await member.delete(f"/workspaces/{ws}"), 403)
    assert_problem(await admin.delete(f"/workspaces/{ws}"), 403)
    assert (await owner.delete(f"/workspaces/{ws}")).status_code == 204
    for user in (owner, admin, member):
        assert_problem(await user.get(f"/workspaces/{ws}"), 404)
        assert_problem(await user.get(f"/tasks/{task['id']}"), 404)
        assert ws not in [w["id"] for w in (await user.get("/workspaces")).json()]


async def test_non_members_get_404_for_workspaces_that_exist_and_that_do_not(api: Api) -> None:
    owner, outsider = await api.user(), await api.user()
    ws = await owner.workspace()
    for workspace_id in (ws, 2_000_000_000):
        for method, path, body in [
            ("GET", "", None),
            ("PATCH", "", {"name": "x"}),
            ("DELETE", "", None),
            ("GET", "/members", None),
            ("POST", "/members", {"username": outsider.username}),
            ("PATCH", f"/members/{owner.id}", {"role": "member"}),
            ("DELETE", f"/members/{owner.id}", None),
            ("DELETE", f"/members/{outsider.id}", None),
        ]:
            r = await outsider.request(method, f"/workspaces/{workspace_id}{path}", json=body)
            assert r.status_code == 404, (method, path, r.text)
    assert await roles(owner, ws) == {owner.id: "owner"}


async def test_members_of_a_workspace_that_are_not_there_are_404(api: Api) -> None:
    owner, outsider = await api.user(), await api.user()
    ws = await owner.workspace()
    path = f"/workspaces/{ws}/members/{outsider.id}"
    assert_problem(await owner.patch(path, json={"role": "admin"}), 404)
    assert_problem(await owner.delete(path), 404)


# Integers out of range name nothing: 404, in tests/test_path_ids.py.
@pytest.mark.parametrize("bad_id", ["abc", "1.5", "0x10"])
async def test_ids_that_are_not_integers_are_422_not_a_crash(api: Api, bad_id: str) -> None:
    owner = await api.user()
    ws = await owner.workspace()
    for method, path, body in [
        ("GET", f"/workspaces/{bad_id}", None),
        ("PATCH", f"/workspaces/{bad_id}", {"name": "x"}),
        ("DELETE", f"/workspaces/{bad_id}", None),
        ("GET", f"/workspaces/{bad_id}/members", None),
        ("PATCH", f"/workspaces/{ws}/members/{bad_id}", {"role": "admin"}),
        ("DELETE", f"/workspaces/{ws}/members/{bad_id}", None),
    ]:
        body_problem = assert_problem(await owner.request(method, path, json=body), 422)
        assert body_problem["errors"][0]["loc"][0] == "path", (method, path)
