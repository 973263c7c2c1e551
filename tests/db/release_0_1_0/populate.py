"""Fill a running OneTask 0.1.0 server with the data the upgrade test expects.

How the dumps beside this file were made, with the 0.1.0 release checked out:

    ONETASK_DATA_DIR=/tmp/rel onetask serve --port 8765 &        # SQLite: /tmp/rel/onetask.db
    python tests/db/release_0_1_0/populate.py http://127.0.0.1:8765
    sqlite3 /tmp/rel/onetask.db .dump > tests/db/release_0_1_0/sqlite.sql

and the same against PostgreSQL (ONETASK_DATABASE_URL=postgresql+asyncpg://…/rel), dumped
with `pg_dump --no-owner --no-privileges --inserts rel > postgresql.sql`.
"""

from __future__ import annotations

import sys

import httpx


def main(base: str) -> None:
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as api:
        users = {}
        for name in ("alice", "bob", "carol"):
            body = {"email": f"{name}@example.com", "username": name, "password": f"{name} pw 1234"}
            api.post("/auth/register", json=body).raise_for_status()
            login = api.post("/auth/login", data={"username": name, "password": body["password"]})
            users[name] = {
                "Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"
            }
        alice, bob = users["alice"], users["bob"]
        ws = (
            api.post("/workspaces", json={"name": "Launch"}, headers=alice)
            .raise_for_status()
            .json()
        )
        wid = ws["id"]
        for name, role in (("bob", "member"), ("carol", "admin")):
            api.post(
                f"/workspaces/{wid}/members", json={"username": name, "role": role}, headers=alice
            ).raise_for_status()
        bob_id = api.get("/users/me", headers=bob).raise_for_status().json()["id"]
        ids = []
        for i, (title, priority) in enumerate(
            [
                ("Write proposal", "high"),
                ("Review budget", "medium"),
                ("Book venue", "low"),
                ("Old idea", "low"),
            ]
        ):
            task = {"title": title, "priority": priority, "description": f"details {i}"}
            if i == 0:
                task |= {"due_date": "2030-04-01T12:00:00Z", "assignee_id": bob_id}
            ids.append(
                api.post(f"/workspaces/{wid}/tasks", json=task, headers=alice)
                .raise_for_status()
                .json()["id"]
            )
        api.post(f"/tasks/{ids[1]}/complete", headers=bob).raise_for_status()
        api.delete(f"/tasks/{ids[3]}", headers=alice).raise_for_status()
        api.put(
            "/notifications/preferences", json={"muted": ["task_completed"]}, headers=bob
        ).raise_for_status()
        focus = {"workspace_id": wid, "title": "Morning sprint"}
        api.post("/focus-sessions", json=focus, headers=alice).raise_for_status()
        api.post("/workspaces", json={"name": "Alice alone"}, headers=alice).raise_for_status()


if __name__ == "__main__":
    main(sys.argv[1])
