"""The infrastructure one service process holds: database, outbox relay, NATS bus, Redis.

Each service's composition root (its `bootstrap.py`) builds one of these from its settings, or tests
pass their own parts by argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import metrics
from shared.counters import Numbers
from shared.db import create_engine, session_factory
from shared.messaging import Bus
from shared.outbox import Outbox
from shared.relay import OutboxRelay, jetstream_publisher
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = logging.getLogger("mcc.runtime")


@dataclass
class Runtime:
    service: str
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox
    inbox: Table
    bus: Bus
    redis: aioredis.Redis
    relay: OutboxRelay
    numbers: Numbers
    schema: str | None = None
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    # The service's own unit of work (with its repositories), chosen by its composition root.
    unit_of_work: type[UnitOfWork] = UnitOfWork

    @classmethod
    def build(cls, service: str, settings: ServiceSettings, metadata: MetaData, *,
              engine: AsyncEngine | None = None, schema: str | None = None,
              unit_of_work: type[UnitOfWork] = UnitOfWork) -> Runtime:
        engine = engine or create_engine(settings.database_url, schema=schema)
        sessions = session_factory(engine)
        outbox = Outbox(metadata.tables["outbox"], source=f"/mcc/{service}")
        bus = Bus(settings.nats_url, service=service, max_deliver=settings.consumer_max_deliver,
                  ack_wait_s=settings.consumer_ack_wait_s, max_unfinished=settings.consumer_max_unfinished,
                  retry_cap_s=settings.consumer_retry_cap_s, stream_replicas=settings.stream_replicas)
        relay = OutboxRelay(outbox, sessions, start_publish=jetstream_publisher(bus), poll_s=settings.outbox_poll_s,
                            on_published=lambda subject: metrics.EVENTS_PUBLISHED.labels(service, subject).inc())
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        numbers = Numbers(metadata.tables["counter"], database_url=settings.database_url, schema=schema,
                          block=settings.number_block)
        return cls(service, settings, engine, sessions, outbox, metadata.tables["processed_event"], bus,
                   client, relay, numbers, schema, unit_of_work=unit_of_work)

    async def start(self) -> None:
        """Connect to NATS in the background and start publishing the outbox."""
        self.bus.on_reconnect(self.relay.wake)
        await self.bus.start()
        self.spawn(self.relay.run(), name=f"{self.service}-outbox")
        self.spawn(self._gauges(), name=f"{self.service}-gauges")

    def spawn(self, job: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run a background job (a poller, a follower) for as long as the runtime runs: `stop` cancels it."""
        task = asyncio.create_task(job, name=name)
        self.background.append(task)
        return task

    async def stop_consuming(self) -> None:
        """Stop fetching and finish in-flight messages, while every client a handler uses is still open."""
        await self.bus.stop_consuming()

    async def stop(self) -> None:
        """Stop consuming, stop the outbox relay, drain NATS, close the rest (clients after their users)."""
        await self.bus.stop_consuming()
        self.relay.stop()
        relaying = [t for t in self.background if t.get_name().endswith("-outbox")]
        if relaying:  # let the relay finish the round it is in (what the last handlers committed)
            await asyncio.wait(relaying, timeout=5)
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.bus.stop()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        await self.numbers.close()
        await self.engine.dispose()

    async def readiness(self, *, redis: bool = True) -> dict[str, str]:
        """Each dependency's state: 'ok' or why not (Redis only when asked: not every service uses it)."""
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {exc!r}"[:200]
        if redis:
            try:
                await asyncio.wait_for(self.redis.ping(), 2)
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"unreachable: {exc!r}"[:200]
        checks["nats"] = "ok" if self.bus.is_ready() else "not connected: events wait in the outbox until it is back"
        return checks

    def uow(self) -> UnitOfWork:
        """A fresh unit of work on this service's database and outbox."""
        return self.unit_of_work(self.sessions, self.outbox, self.inbox, self.numbers)

    async def _gauges(self) -> None:
        table = self.outbox.table
        while True:
            await asyncio.sleep(5)
            with contextlib.suppress(Exception):
                async with self.sessions() as session:
                    pending = (await session.execute(select(func.count()).select_from(table))).scalar_one()
                metrics.OUTBOX_PENDING.labels(self.service).set(pending)
                for consumer, lag in (await self.bus.consumer_lag()).items():
                    metrics.CONSUMER_LAG.labels(self.service, consumer).set(lag)
