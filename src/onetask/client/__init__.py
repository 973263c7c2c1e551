"""A Python client for OneTask's REST login and its three WebSocket channels.

    async with OneTaskClient("http://127.0.0.1:8000") as client:
        await client.login("alice", "correct horse")
        async for message in subscribe(client, Endpoint("tasks", workspace_id=1)):
            ...

Only `httpx` and `websockets` are needed; `websocket_client_test.py` is its command line.
"""

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
    Backoff,
    Endpoint,
    HandshakeRejected,
    ServerClosed,
    Subscription,
    subscribe,
)

__all__ = [
    "DEFAULT_URL",
    "ENDPOINT_KINDS",
    "ApiError",
    "Backoff",
    "ClientError",
    "Endpoint",
    "HandshakeRejected",
    "LoginFailed",
    "OneTaskClient",
    "ServerClosed",
    "Subscription",
    "Unreachable",
    "subscribe",
]
