"""The baseline: the usual FastAPI broadcast, as tutorials and most apps write it.

A list of sockets and `for ws in conns: await ws.send_text(msg)`, served by uvicorn with
its defaults (`--ws auto`). Same path shape and the same ~320-byte task_update message as
OneTask, so the load client cannot tell them apart. Run: `python bench/baseline_app.py PORT`.
"""

from __future__ import annotations

import json
import resource
import sys
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
conns: list[WebSocket] = []
state = {"seq": 0}


def task_update(seq: int, title: str) -> str:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    data = {
        "id": 1,
        "title": title,
        "description": "A task that many people watch.",
        "status": "todo",
        "priority": "high",
        "due_date": None,
        "workspace_id": 1,
        "user_id": 1,
        "assignee_id": None,
        "version": seq + 1,
        "actor_id": 1,
        "completed_at": None,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }
    message = {"type": "task_update", "action": "updated", "seq": seq, "data": data}
    return json.dumps(message, separators=(",", ":"))


@app.websocket("/api/v1/ws/workspaces/{workspace_id}/tasks")
async def tasks_socket(websocket: WebSocket, workspace_id: int) -> None:
    if not websocket.query_params.get("token"):
        await websocket.close(4401)
        return
    await websocket.accept()
    conns.append(websocket)
    connected = {"type": "connected", "data": {"channel": f"workspace:{workspace_id}:tasks"}}
    await websocket.send_text(json.dumps(connected, separators=(",", ":")))
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        conns.remove(websocket)


@app.patch("/api/v1/tasks/{task_id}")
async def update_task(task_id: int, body: dict[str, str]) -> dict[str, int]:
    state["seq"] += 1
    msg = task_update(state["seq"], body.get("title", "A task"))
    for ws in list(conns):
        try:
            await ws.send_text(msg)
        except Exception:  # the common pattern: drop a dead socket and go on
            if ws in conns:
                conns.remove(ws)
    return {"id": task_id, "seq": state["seq"]}


if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), ws="auto", log_level="info")
