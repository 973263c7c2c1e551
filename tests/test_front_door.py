"""What a person sees first: the server's address, and what it logs when it starts."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import DATABASE_URL, make_settings
from tests.e2e.servers import Server


async def test_the_root_points_to_the_documentation_and_the_contracts(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    links = r.json()
    for path in ("/docs", "/ws-test", "/asyncapi.json", "/openapi.json", "/healthz"):
        assert path in links.values()
        assert (await client.get(path)).status_code == 200, path
    page = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in page.text and 'href="/asyncapi.json"' in page.text


def test_the_server_logs_its_mode_database_and_data_directory_at_start(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    server.stop()
    log = server.log.read_text()
    if DATABASE_URL:
        assert f"scaled mode; database {DATABASE_URL};" in log
    else:
        assert f"embedded mode; database sqlite+aiosqlite:///{tmp_path.resolve()}" in log
    assert f"data directory {tmp_path.resolve()}" in log


def test_the_start_up_line_never_shows_a_password(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        database_url="postgresql+asyncpg://app:hunter2@db.example:5432/onetask",
        broker_url="redis://:sesame@redis.example:6379/0",
    )
    line = settings.describe()
    assert "app:***@db.example:5432/onetask" in line and "redis.example:6379" in line
    assert "hunter2" not in line and "sesame" not in line
