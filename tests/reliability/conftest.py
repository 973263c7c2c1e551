from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.reliability.services import PrivatePostgres, PrivateRedis


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres().init()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis().start()
    yield redis
    redis.stop()


@pytest.fixture
def private_database(private_postgres: PrivatePostgres) -> str:
    """A fresh database on the private cluster for one test."""
    return private_postgres.create_database(f"fault_{uuid.uuid4().hex[:10]}")
