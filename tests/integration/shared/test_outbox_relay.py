"""The outbox relay against a real nats-server: many publishes in flight, each once, in write order, and
nothing lost or doubled when NATS goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats as nats_client
import pytest
from sqlalchemy import MetaData, func, select

from shared.db import create_engine, session_factory
from shared.events.envelope import utcnow
from shared.messaging import Bus
from shared.outbox import Outbox, messaging_tables
from shared.relay import OutboxRelay, jetstream_publisher
from tests.support.apps import stream_messages
from tests.support.polling import eventually

SUBJECT = "mcc.incident.reported"
STREAM = "MCC_INCIDENTS"


@contextlib.asynccontextmanager
async def relay_on(db: Any, nats_url: str, **bus: Any) -> AsyncIterator[tuple[Outbox, OutboxRelay, Any]]:
    metadata = MetaData()
    table, _ = messaging_tables(metadata)
    engine = create_engine(db.url, schema=db.schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    bus = Bus(nats_url, service="relay-test", **bus)
    await bus.start()
    await bus.wait_connected(30)
    outbox = Outbox(table, source="/mcc/test")
    relay = OutboxRelay(outbox, sessions, start_publish=jetstream_publisher(bus), poll_s=0.1, batch_size=400,
                        ack_timeout_s=3)
    try:
        yield outbox, relay, sessions
    finally:
        relay.stop()
        await bus.stop()
        await engine.dispose()


async def write_rows(outbox: Outbox, sessions: Any, n: int, *, tag: str) -> list[dict]:
    """`n` events in one transaction, as a service writes them; returns their rows in write order."""
    now = utcnow()
    rows = [{"id": str(uuid.uuid4()), "seq": outbox._next_seq(), "subject": SUBJECT, "type": "test",
             "payload": f"{tag}-{i}".encode(), "created_at": now, "attempts": 0} for i in range(n)]
    async with sessions() as session:
        await session.execute(outbox.table.insert(), rows)
        await session.commit()
    outbox.nudge()
    return rows


async def pending(outbox: Outbox, sessions: Any) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(outbox.table))).scalar_one()


async def test_a_large_backlog_goes_out_in_write_order_with_its_event_ids_and_leaves_the_outbox_empty(db, nats_url):
    async with relay_on(db, nats_url) as (outbox, relay, sessions):
        written = await write_rows(outbox, sessions, 1000, tag="a")
        sent = 0
        while (n := await relay.relay_once()) > 0:
            sent += n
            assert n <= relay.batch_size
        assert sent == 1000
        assert await pending(outbox, sessions) == 0
        nc = await nats_client.connect(nats_url)
        try:
            messages = await stream_messages(nc.jetstream(), STREAM, SUBJECT)
        finally:
            await nc.drain()
        assert [m.data for m in messages] == [r["payload"] for r in written]
        assert [m.headers["Nats-Msg-Id"] for m in messages] == [r["id"] for r in written]


async def test_a_row_published_again_after_its_ack_is_dropped_by_the_duplicate_window(db, nats_url):
    async with relay_on(db, nats_url) as (outbox, relay, sessions):
        written = await write_rows(outbox, sessions, 50, tag="b")
        assert await relay.relay_once() == 50
        # A relay killed between the acks and the delete leaves its rows behind: they go out again.
        async with sessions() as session:
            await session.execute(outbox.table.insert(), written)
            await session.commit()
        assert await relay.relay_once() == 50
        nc = await nats_client.connect(nats_url)
        try:
            messages = await stream_messages(nc.jetstream(), STREAM, SUBJECT)
        finally:
            await nc.drain()
        assert len(messages) == 50


@pytest.mark.timeout(180)
async def test_events_written_while_nats_is_down_are_in_the_stream_once_each_when_it_is_back(db, nats, nats_url):
    async with relay_on(db, nats_url) as (outbox, relay, sessions):
        task = asyncio.create_task(relay.run())
        try:
            written = await write_rows(outbox, sessions, 300, tag="before")
            await eventually(lambda: _is_zero(outbox, sessions), timeout=30, message="first events published")
            nats.kill()
            for k in range(5):
                written += await write_rows(outbox, sessions, 100, tag=f"down{k}")
            await eventually(lambda: not relay.healthy, timeout=30, message="relay notices NATS is gone")
            assert await pending(outbox, sessions) >= 500  # nothing dropped while NATS is away
            nats.start()
            await eventually(lambda: _is_zero(outbox, sessions), timeout=60, message="backlog published")
        finally:
            relay.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        # What the stream holds is what any consumer of it is delivered: each event once, none missing.
        nc = await nats_client.connect(nats_url)
        try:
            messages = await stream_messages(nc.jetstream(), STREAM, SUBJECT)
        finally:
            await nc.drain()
        ids = [m.headers["Nats-Msg-Id"] for m in messages]
        assert len(ids) == len(set(ids)) == len(written)
        assert set(ids) == {r["id"] for r in written}


async def _is_zero(outbox: Outbox, sessions: Any) -> bool:
    return await pending(outbox, sessions) == 0


async def test_an_idle_relay_commits_nothing_and_a_relayed_batch_commits_once(db, nats_url):
    from shared import metrics

    async with relay_on(db, nats_url) as (outbox, relay, sessions):
        before = metrics.DB_COMMITS._value.get()
        for _ in range(5):
            assert await relay.relay_once() == 0
        assert metrics.DB_COMMITS._value.get() == before  # polls of an empty outbox end in rollbacks
        await write_rows(outbox, sessions, 10, tag="idle")
        written = metrics.DB_COMMITS._value.get()
        assert await relay.relay_once() == 10
        assert metrics.DB_COMMITS._value.get() == written + 1


async def test_rows_nobody_nudged_about_go_out_at_the_next_poll_and_an_empty_poll_reads_no_batch(db, nats_url):
    async with relay_on(db, nats_url) as (outbox, relay, sessions):
        rounds, probes = [], []
        relay_once, rows_waiting = relay.relay_once, relay._rows_waiting

        async def counted_round() -> int:
            rounds.append(1)
            return await relay_once()

        async def counted_probe() -> bool:
            found = await rows_waiting()
            probes.append(found)
            return found

        relay.relay_once, relay._rows_waiting = counted_round, counted_probe  # type: ignore[method-assign]
        task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: len(probes) >= 3, timeout=30, message="three idle polls")
            if db.backend == "postgres":
                assert len(rounds) == 1 and not any(probes)  # the first round only: polls asked, found nothing
            # Another process (here: an outbox whose nudges reach no relay) commits rows.
            other = Outbox(outbox.table, source="/mcc/other")
            written = await write_rows(other, sessions, 20, tag="other")
            await eventually(lambda: _is_zero(outbox, sessions), timeout=30, message="the other's rows published")
        finally:
            relay.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        nc = await nats_client.connect(nats_url)
        try:
            messages = await stream_messages(nc.jetstream(), STREAM, SUBJECT)
        finally:
            await nc.drain()
        assert [m.headers["Nats-Msg-Id"] for m in messages] == [r["id"] for r in written]
