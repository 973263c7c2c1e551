"""uvicorn's HTTP protocol, with a bound on the time a request may take to arrive.

uvicorn times out only idle keep-alive connections: a client that opens a connection and
sends nothing, half a request line, headers without their end, a body shorter than its
Content-Length or a WebSocket upgrade request that never ends holds its connection (and
a file descriptor) for ever; a few thousand of them exhausted the process's descriptors.
Here every request must arrive whole, from its first byte (or the connection's opening)
to the end of its body, within `request_timeout_s`; otherwise the client gets 408 and the
connection is closed. One timer per connection, armed while a request is arriving.
A connection upgraded to a WebSocket leaves this protocol, and the bound, behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from onetask.errors import problem_response

DEFAULT_REQUEST_TIMEOUT_S = 30.0


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, plus the bound the protocol below enforces."""

    def __init__(self, app: Any, *, request_timeout_s: float, **kwargs: Any) -> None:
        self.request_timeout_s = request_timeout_s
        super().__init__(app, http=TimedHttpProtocol, **kwargs)


def _request_timeout_response(timeout_s: float) -> bytes:
    problem = problem_response(
        408,
        "Request timeout",
        f"The request (line, headers and body) must arrive within {timeout_s:g} s.",
        "request-timeout",
    )
    headers = b"".join(
        name + b": " + value + b"\r\n"
        for name, value in [*problem.raw_headers, (b"connection", b"close")]
    )
    return STATUS_LINE[408] + headers + b"\r\n" + bytes(problem.body)


class TimedHttpProtocol(HttpToolsProtocol):
    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.request_timeout_s = (
            config.request_timeout_s
            if isinstance(config, ServerConfig)
            else DEFAULT_REQUEST_TIMEOUT_S
        )
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request's time starts now, not at its first byte

    def data_received(self, data: bytes) -> None:
        # Armed before parsing, which disarms it if `data` ends a request. Any byte counts
        # as a request arriving: blank lines between requests stop uvicorn's keep-alive
        # timer without beginning a request.
        self._arm()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a pipelined request that begins after another ended in the same read

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the WebSocket protocol takes the connection from here
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        # Answer 408 unless another response is already on the wire (a pipelined
        # request's, or this one's if the application answered before reading the body).
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application's reads end, its response is dropped
            cycle.message_event.set()
        if not answering and not self.pipeline:
            self.transport.write(_request_timeout_response(self.request_timeout_s))
        self.transport.close()
        if self.client is not None:  # debug: a flood of these must not flood the log
            self.logger.debug("%s:%d - request timed out", *self.client)
