from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import Api
from tests.e2e.servers import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server process per test module, on the suite's backends."""
    process = Server(tmp_path_factory.mktemp("security")).start()
    yield process
    process.stop()


@pytest.fixture
async def live(server: Server) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield Api(client)
