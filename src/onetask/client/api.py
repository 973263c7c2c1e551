"""The REST half of the client: log in, and the few calls the tools need."""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


class ClientError(Exception):
    """Something a person can act on; the message says what happened and what to do."""


class Unreachable(ClientError):
    pass


class LoginFailed(ClientError):
    pass


class ApiError(ClientError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class OneTaskClient:
    """REST calls with one access token; `subscribe` (in stream.py) streams a channel."""

    def __init__(
        self, url: str = DEFAULT_URL, token: str | None = None, *, timeout: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self._credentials: tuple[str, str] | None = None

    async def __aenter__(self) -> OneTaskClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def can_relogin(self) -> bool:
        return self._credentials is not None

    @property
    def ws_base(self) -> str:
        parts = urlsplit(self.url)
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path, "", ""))

    async def login(self, username: str, password: str) -> str:
        response = await self._send(
            "POST", "/api/v1/auth/login", data={"username": username, "password": password}
        )
        if response.status_code == 401:
            raise LoginFailed(f"Login refused for {username!r}: wrong username or password.")
        if response.status_code == 429:
            wait = response.headers.get("retry-after", "a while")
            raise LoginFailed(f"Too many failed logins; try again in {wait} seconds.")
        _raise_for_problem(response, "log in")
        self.token = str(response.json()["access_token"])
        self._credentials = (username, password)
        return self.token

    async def relogin(self) -> str:
        if self._credentials is None:
            raise LoginFailed("The access token was rejected and there are no credentials.")
        return await self.login(*self._credentials)

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """`/api/v1` + path with the bearer token; the decoded body, or ApiError."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self._send(method, "/api/v1" + path, headers=headers, **kwargs)
        _raise_for_problem(response, f"{method} {path}")
        return response.json() if response.content else None

    async def has_route(self, path: str) -> bool:
        """Whether this server serves `/api/v1` + path at all (a 404 with no problem body
        from the router means the route does not exist)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self._send("GET", "/api/v1" + path, headers=headers)
        return response.status_code != 404 or _problem(response).get("detail") != "Not Found"

    async def me(self) -> dict[str, Any]:
        body: dict[str, Any] = await self.request("GET", "/users/me")
        return body

    async def workspaces(self) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = await self.request("GET", "/workspaces")
        return body

    async def create_workspace(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.request("POST", "/workspaces", json={"name": name})
        return body

    async def create_task(self, workspace_id: int, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = await self.request(
            "POST", f"/workspaces/{workspace_id}/tasks", json=fields
        )
        return body

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unreachable(
                f"Cannot reach the server at {self.url} ({exc or type(exc).__name__}). "
                "Is it running (`onetask serve`), and are host and port right?"
            ) from exc
        except httpx.TransportError as exc:
            raise Unreachable(f"The server at {self.url} did not answer: {exc!r}.") from exc


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _raise_for_problem(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    problem = _problem(response)
    detail = problem.get("detail") or problem.get("title") or response.text[:200]
    if response.status_code == 401:
        raise LoginFailed(f"Could not {what}: the access token was rejected ({detail}).")
    raise ApiError(response.status_code, f"Could not {what}: {response.status_code} {detail}")
