"""The outbox relay publishes what its own process just committed from memory, against a real nats-server: no
read of the table, the acks of several commits deleted in one statement, and the table as the fallback (rows
of a process killed before it published them, a queue past its cap, NATS down then back), each event once
and in commit order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import nats as nats_client
import pytest
from sqlalchemy import MetaData, event, func, select

from shared.db import create_engine, session_factory
from shared.events.catalog import ORDER_EVENTS
from shared.events.envelope import utcnow
from shared.events.v1 import AppealType, Channel, OrderChanged, OrderState
from shared.messaging import Bus
from shared.outbox import Outbox, messaging_tables
from shared.relay import OutboxRelay, jetstream_publisher
from shared.uow import UnitOfWork
from tests.support.apps import stream_messages
from tests.support.polling import eventually

DISPATCHED = ORDER_EVENTS["dispatched"]


def dispatched(order_id: str, version: int) -> OrderChanged:
    return OrderChanged(order_id=order_id, order_number=f"GD{order_id[:8]}", incident_id=f"i-{order_id}",
                        action="x", from_state=None, to_state=OrderState.DISPATCHED, version=version,
                        unit_code="320600", tier="town", town_code=None, county_code=None,
                        category_code="020101", appeal_type=AppealType.COMPLAINT, channel=Channel.HOTLINE,
                        source_ref=f"s-{order_id}", actor="system:test", occurred_at=utcnow())


@dataclass
class Process:
    """One service process's outbox and relay (not running until `start`), and the SQL its engine sent."""

    outbox: Outbox
    relay: OutboxRelay
    sessions: Any
    statements: list[str] = field(default_factory=list)
    task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.relay.run())

    async def commit(self, *versions: int, order_id: str = "o-1") -> list[str]:
        """One transaction with one event per version, as a handler's unit of work writes it; their ids."""
        async with UnitOfWork(self.sessions, self.outbox, self.outbox.table) as uow:
            ids = [(await uow.emit(DISPATCHED, dispatched(order_id, v), subject=order_id)).id for v in versions]
            await uow.commit()
        return ids

    def reads(self) -> list[str]:
        """The relay's reads of the outbox (a sweep's or a poll's; not the test's counts)."""
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT") and "outbox.id" in s]

    def deletes(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith("DELETE")]

    async def pending(self) -> int:
        async with self.sessions() as session:
            return (await session.execute(select(func.count()).select_from(self.outbox.table))).scalar_one()


@contextlib.asynccontextmanager
async def process(db: Any, nats_url: str, *, start_publish: Any = None, poll_s: float = 60,
                  queue_cap: int = 10_000) -> AsyncIterator[Process]:
    metadata = MetaData()
    table, _ = messaging_tables(metadata)
    engine = create_engine(db.url, schema=db.schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    bus = Bus(nats_url, service="direct-test")
    await bus.start()
    await bus.wait_connected(30)
    outbox = Outbox(table, source="/mcc/test", queue_cap=queue_cap)
    sessions = session_factory(engine)
    # A long poll: whatever the relay reads after its first sweep, no poll asked it to.
    relay = OutboxRelay(outbox, sessions, start_publish=start_publish or jetstream_publisher(bus), poll_s=poll_s,
                        ack_timeout_s=3)
    p = Process(outbox, relay, sessions)
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: p.statements.append(statement))
    try:
        yield p
    finally:
        relay.stop()
        if p.task:
            p.task.cancel()
            await asyncio.gather(p.task, return_exceptions=True)
        await bus.stop()
        await engine.dispose()


async def published(nats_url: str, count: int) -> list[Any]:
    """The order stream's messages, once it holds `count`."""
    nc = await nats_client.connect(nats_url)
    try:
        js = nc.jetstream()

        async def enough() -> list[Any]:
            messages = await stream_messages(js, "MCC_ORDERS")
            return messages if len(messages) >= count else []

        return await eventually(enough, timeout=60, message=f"{count} events in the stream")
    finally:
        await nc.drain()


def ids_of(messages: list[Any]) -> list[str]:
    return [m.headers["Nats-Msg-Id"] for m in messages]


async def test_a_committed_event_is_published_and_deleted_without_the_relay_reading_the_outbox(db, nats_url):
    async with process(db, nats_url) as p:
        p.start()
        await eventually(lambda: p.reads(), message="the first sweep (rows of an earlier process)")
        await eventually(lambda: p.relay.healthy and not p.outbox.queue)
        p.statements.clear()
        ids = await p.commit(1)
        assert ids_of(await published(nats_url, 1)) == ids
        await eventually(lambda: p.deletes(), message="the acknowledged row's DELETE sent")
        await eventually(lambda: _is_zero(p), message="the acknowledged row deleted")
        assert p.reads() == []  # published from memory: neither a sweep nor a poll read the table


async def test_the_acks_of_several_commits_are_deleted_in_one_statement(db, nats, nats_url):
    gate, holding = asyncio.Event(), asyncio.Event()
    bus = Bus(nats_url, service="direct-test-gate")
    await bus.start()
    await bus.wait_connected(30)
    publish = jetstream_publisher(bus)

    async def held_once(subject: str, payload: bytes, msg_id: str) -> asyncio.Future[Any]:
        if not gate.is_set():  # the first publish waits, so the next commits pile up in the queue
            holding.set()
            await gate.wait()
        return await publish(subject, payload, msg_id)

    try:
        async with process(db, nats_url, start_publish=held_once) as p:
            gate.set()
            p.start()
            await eventually(lambda: p.reads(), message="the first sweep")
            gate.clear()
            p.statements.clear()
            ids = await p.commit(1)
            await eventually(holding.is_set, message="the first commit's publish under way")
            for version in (2, 3, 4):
                ids += await p.commit(version)
            assert len(p.outbox.queue) == 3
            gate.set()
            assert ids_of(await published(nats_url, 4)) == ids
            await eventually(lambda: p.deletes(), message="acknowledged rows deleted")
            await eventually(lambda: _is_zero(p))
            assert len(p.deletes()) == 1  # four commits' acks, one DELETE
            assert p.reads() == []
    finally:
        await bus.stop()


async def test_rows_committed_by_a_process_killed_before_it_published_are_published_by_the_next_ones_sweep(
        db, nats_url):
    async with process(db, nats_url) as killed:
        ids = await killed.commit(1, 2)
        ids += await killed.commit(3)
        assert len(killed.outbox.queue) == 3  # handed over, never published: the process dies here
    async with process(db, nats_url) as fresh:
        fresh.start()
        assert ids_of(await published(nats_url, 3)) == ids
        await eventually(lambda: _is_zero(fresh), message="swept rows deleted")
        assert len(fresh.reads()) >= 1


async def test_past_its_cap_the_queue_drops_its_copies_and_the_sweep_publishes_every_event_once_in_order(
        db, nats_url):
    async with process(db, nats_url, queue_cap=5) as p:
        ids: list[str] = []
        for version in range(1, 13):  # the relay is not running: the queue fills
            ids += await p.commit(version)
            assert len(p.outbox.queue) <= 5
        assert not p.outbox.accepting and not p.outbox.queue  # past the cap: the table alone holds them
        p.start()
        await eventually(lambda: _is_zero(p), message="the backlog published")
        ids += await p.commit(13)
        messages = await published(nats_url, 13)
        assert ids_of(messages) == ids


@pytest.mark.timeout(180)
async def test_with_nats_down_commits_wait_in_the_table_and_go_out_once_each_in_commit_order_when_it_is_back(
        db, nats, nats_url):
    async with process(db, nats_url, poll_s=0.2) as p:
        p.relay.sweep_age_s = 1.0
        p.start()
        ids = await p.commit(1)
        await published(nats_url, 1)
        nats.kill()
        version = 1
        while p.relay.healthy or version < 20:  # commits go on until the relay has met the outage, and after
            version += 1
            ids += await p.commit(version)
            await asyncio.sleep(0)
        assert await p.pending() >= 19  # waiting in the table
        nats.start()
        await eventually(lambda: _is_zero(p), timeout=60, message="the backlog published")
        ids += await p.commit(version + 1)
        messages = await published(nats_url, len(ids))
    assert ids_of(messages) == ids  # each once, in commit order


async def _is_zero(p: Process) -> bool:
    return await p.pending() == 0
