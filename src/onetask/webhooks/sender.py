"""One POST to a receiver: no redirects followed, a time limit on the whole attempt, and at
most `ANSWER_BYTES` of the answer read (kept for the delivery log)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

ANSWER_BYTES = 4096
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Outcome:
    succeeded: bool
    status: int | None  # the receiver's status code, None when it gave none
    error: str | None  # what went wrong, for the delivery log


class Sender:
    def __init__(
        self, timeout_s: float, max_connections: int, allowed_hosts: frozenset[str] | None
    ) -> None:
        self.timeout_s = timeout_s
        self.allowed_hosts = allowed_hosts
        # trust_env=False: no proxy or .netrc from the environment decides where (or with
        # which credentials) a workspace's URL is called.
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        # The answer is read as sent (`identity`): a compressed one could inflate far
        # beyond what is read of it.
        headers = {**headers, "Accept-Encoding": "identity"}
        host = urlsplit(url).hostname
        if self.allowed_hosts is not None and (host or "").lower() not in self.allowed_hosts:
            return Outcome(False, None, f"{host} is not in ONETASK_WEBHOOK_ALLOWED_HOSTS.")
        try:
            async with asyncio.timeout(self.timeout_s):
                request = self._client.stream("POST", url, content=body, headers=headers)
                async with request as response:
                    answer = await _read_at_most(response, ANSWER_BYTES)
        except TimeoutError:
            return Outcome(False, None, f"No answer within {self.timeout_s:g} s.")
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            return Outcome(False, None, _clip(f"{type(exc).__name__}: {exc}"))
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(True, status, None)
        return Outcome(False, status, _clip(_describe(response, answer)))


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    answer = b""
    async for chunk in response.aiter_raw():
        answer += chunk
        if len(answer) >= limit:
            break
    return answer[:limit]


def _describe(response: httpx.Response, answer: bytes) -> str:
    said = f"HTTP {response.status_code}"
    if response.is_redirect:
        said += f" (a redirect to {response.headers.get('location', '?')}, not followed)"
    text = answer.decode(errors="replace").strip()
    return f"{said}: {text}" if text else said


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"
