"""GET /asyncapi.json (the WebSocket contract) and GET /ws-test (the guide's test page)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from onetask.realtime.asyncapi import document

router = APIRouter(tags=["real-time"])


@cache
def page_html() -> str:
    return (files("onetask") / "static" / "websocket_test.html").read_text(encoding="utf-8")


@router.get("/asyncapi.json", summary="The WebSocket contract (AsyncAPI 3.0)")
async def asyncapi(request: Request) -> dict[str, Any]:
    protocol = "wss" if request.url.scheme == "https" else "ws"
    return document(host=request.url.netloc, protocol=protocol)


@router.get("/ws-test", response_class=HTMLResponse, summary="WebSocket test page")
async def ws_test() -> HTMLResponse:
    return HTMLResponse(
        page_html(),
        headers={
            "Cache-Control": "no-cache",
            # Self-contained: nothing is loaded from elsewhere; it may talk to any server.
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self' http: https: ws: wss:",
        },
    )
