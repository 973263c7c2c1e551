"""Fixtures for tests against a real server process, shared by every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Api
from tests.e2e.servers import Server, module_server

server = module_server("server")  # one real server process per test module


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def live(http: httpx.AsyncClient) -> Api:
    return Api(http)
