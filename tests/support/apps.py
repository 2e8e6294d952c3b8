"""Running a service app in the test's event loop, wired to the test's real servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
from fastapi import FastAPI
from sqlalchemy import MetaData

from shared.events.catalog import matches
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork


def make_runtime(service: str, settings_cls: type[ServiceSettings], metadata: MetaData, *, db: Any,
                 nats_url: str, redis_url: str, unit_of_work: type[UnitOfWork] = UnitOfWork,
                 **overrides: Any) -> Runtime:
    """A runtime on the test's database (SQLite file or a PostgreSQL schema), NATS and Redis; `unit_of_work`
    is the service's own (with its repositories) for tests that call its handlers without its app."""
    settings = settings_cls(database_url=db.url, nats_url=nats_url, redis_url=redis_url, outbox_poll_s=0.2,
                            log_json=False, **overrides)
    return Runtime.build(service, settings, metadata, schema=db.schema, unit_of_work=unit_of_work)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (migrations, consumers, relay) and give a client that talks to it."""
    async with app.router.lifespan_context(app):
        await app.state.runtime.bus.wait_connected(30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@contextlib.asynccontextmanager
async def jetstream(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.drain()


async def stream_messages(js: Any, stream: str, subject: str | None = None) -> list[Any]:
    """Every message currently in a stream (optionally those matching a subject pattern), read by sequence."""
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(Exception):
            msg = await js.get_msg(stream, seq)
            if subject is None or matches(subject, msg.subject):
                out.append(msg)
    return out
