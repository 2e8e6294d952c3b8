"""Real servers for tests, from the project's own dependencies, on free ports with temporary data.

- `nats`: a fresh nats-server with JetStream per test (starts in well under a second; no state shared).
- `redis_url`: one redis-server per session, flushed before each test.
- `db`: the database matrix: SQLite always, PostgreSQL too when MCC_TEST_POSTGRES_URL is set; on
  PostgreSQL each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as sync_redis

from shared.devservers import ServerProcess, nats_server, redis_server

POSTGRES_URL = os.environ.get("MCC_TEST_POSTGRES_URL")
os.environ.setdefault("MCC_DEMO", "true")  # tests sign with the default token secret, on PostgreSQL too
# Argon2's cheapest parameters: a real hash of the real kind, in microseconds instead of a second a sign-in on a
# loaded machine. tests/integration/dispatch/test_accounts_and_sign_in.py checks the production profile once.
os.environ.setdefault("MCC_DISPATCH_PASSWORD_PROFILE", "CHEAPEST")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.fspath)
        for tier in ("unit", "integration", "e2e", "browser"):
            if f"/tests/{tier}/" in path:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[ServerProcess]:
    server = nats_server(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def nats_url(nats: ServerProcess) -> str:
    return f"nats://127.0.0.1:{nats.port}"


@pytest.fixture(scope="session")
def redis_session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = redis_server(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_server_proc(redis_session_server: ServerProcess) -> ServerProcess:
    if not redis_session_server.running:
        redis_session_server.start()
    return redis_session_server


@pytest.fixture
def redis_url(redis_server_proc: ServerProcess) -> str:
    url = f"redis://127.0.0.1:{redis_server_proc.port}/0"
    sync_redis.Redis.from_url(url).flushall()
    return url


@dataclass(frozen=True)
class Database:
    backend: str
    url: str
    schema: str | None = None


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'test.db'}")
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _pg_exec(POSTGRES_URL, f'CREATE SCHEMA "{schema}"')
    try:
        yield Database("postgres", POSTGRES_URL, schema)
    finally:
        _pg_exec(POSTGRES_URL, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _pg_exec(url: str, sql: str) -> None:
    """Run one statement from a sync fixture, in a thread so it never meets the test's event loop."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
