"""Transactional outbox and inbox.

A service writes its state change and the event that announces it in one database transaction (the
outbox row). A relay publishes outbox rows to JetStream with `Nats-Msg-Id` = event id and deletes them
once the server has acknowledged them. If NATS is down the rows wait; nothing committed is lost, and a
row published twice (a relay killed between ack and delete) is dropped by JetStream's dedup window and,
past it, by the consumers' inbox.

The inbox (`processed_event`) records which event ids a consumer has applied, in the same transaction
as the effect, so a redelivered event has no second effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import UTCDateTime
from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent, utcnow

log = logging.getLogger("mcc.outbox")


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The outbox and inbox tables, added to a service's own metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", String(64), primary_key=True, comment="event id = Nats-Msg-Id"),
        Column("seq", Integer, nullable=False, index=True, comment="publish order"),
        Column("subject", String(200), nullable=False),
        Column("type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    inbox = Table(
        "processed_event",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at", UTCDateTime(), nullable=False),
    )
    return outbox, inbox


def build_event(spec: EventSpec, data: BaseModel, *, source: str, subject: str | None = None,
                event_id: str | None = None, time: datetime | None = None) -> CloudEvent[Any]:
    """A CloudEvent for an event type of the catalog."""
    if not isinstance(data, spec.data_model):
        raise TypeError(f"{spec.type} carries {spec.data_model.__name__}, not {type(data).__name__}")
    fields: dict[str, Any] = {"source": source, "type": spec.type, "subject": subject, "data": data}
    if event_id:
        fields["id"] = event_id
    if time:
        fields["time"] = time
    return CloudEvent[Any](**fields)


class Outbox:
    """Adds events to the outbox inside a caller's transaction and wakes the relay after commit."""

    def __init__(self, table: Table, *, source: str) -> None:
        self.table = table
        self.source = source
        self._wake = asyncio.Event()
        self._seq = 0

    def _next_seq(self) -> int:
        # Monotonic within a process; across processes order is by created_at then seq, which is all a
        # relay needs (consumers never rely on cross-aggregate order).
        self._seq += 1
        return self._seq

    def row(self, spec: EventSpec, data: BaseModel, *, subject: str | None = None,
            event_id: str | None = None) -> tuple[CloudEvent[Any], dict[str, Any]]:
        """An event and the outbox row that carries it, not yet written anywhere."""
        event = build_event(spec, data, source=self.source, subject=subject, event_id=event_id)
        return event, {"id": event.id, "seq": self._next_seq(), "subject": spec.subject_for(data),
                       "type": spec.type, "payload": event.to_json(), "created_at": event.time, "attempts": 0}

    async def add(self, session: AsyncSession, spec: EventSpec, data: BaseModel, *,
                  subject: str | None = None, event_id: str | None = None) -> CloudEvent[Any]:
        """Write an event into the session's transaction; it is published only if the transaction commits."""
        event, row = self.row(spec, data, subject=subject, event_id=event_id)
        await session.execute(self.table.insert().values(**row))
        return event

    def nudge(self) -> None:
        """Tell the relay there is something to publish now rather than at its next poll."""
        self._wake.set()

    async def wait(self, timeout: float) -> bool:
        """Until nudged or `timeout` passed; True if nudged."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        nudged = self._wake.is_set()
        self._wake.clear()
        return nudged


Publish = Callable[[str, bytes, str], Awaitable[None]]  # (subject, payload, msg_id): returns once acked
# (subject, payload, msg_id): sends the message and returns a future that resolves with the server's ack.
StartPublish = Callable[[str, bytes, str], Awaitable["asyncio.Future[Any]"]]


def pipelined(publish: Publish) -> StartPublish:
    """A start-publish function from one that awaits its ack (tests, other transports): one task each."""

    async def start(subject: str, payload: bytes, msg_id: str) -> asyncio.Future[Any]:
        return asyncio.ensure_future(publish(subject, payload, msg_id))

    return start


def jetstream_publisher(bus: Any) -> StartPublish:
    """Pipelined JetStream publishes on a Bus's connection (`publish_async`): each message goes out at
    once, in order, with `Nats-Msg-Id`, and its ack arrives on a future; no task and no round trip each."""

    async def start(subject: str, payload: bytes, msg_id: str) -> asyncio.Future[Any]:
        if not bus.is_ready():
            raise ConnectionError("NATS is not connected")
        return await bus.js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id}, wait_stall=5)

    return start


class OutboxRelay:
    """Publishes committed outbox rows, oldest first, a whole batch in flight; deletes them once acknowledged.

    Each batch is read in (created_at, seq) order and sent in that order without waiting in between, so the
    stream stores one aggregate's events in the order they were written; then the relay waits for all the
    acks (at most `ack_timeout_s`) and deletes the acknowledged rows in one statement. A row whose ack did
    not come stays and is sent again later with the same `Nats-Msg-Id`, which JetStream drops if the first
    copy did arrive (consumers version-guard against the rare reordering this can cause).
    """

    def __init__(self, outbox: Outbox, sessions: async_sessionmaker[AsyncSession], publish: Publish | None = None,
                 *, start_publish: StartPublish | None = None, batch_size: int = 1000, poll_s: float = 1.0,
                 ack_timeout_s: float = 10.0, on_published: Callable[[str], None] | None = None):
        if (publish is None) == (start_publish is None):
            raise TypeError("give either publish or start_publish")
        self.outbox = outbox
        self.sessions = sessions
        self.start_publish = start_publish or pipelined(publish)  # type: ignore[arg-type]
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.ack_timeout_s = ack_timeout_s
        self.on_published = on_published
        self._stopping = asyncio.Event()
        self._reset_backoff = False
        self.healthy = True
        # Where a poll nobody nudged asks first whether any row waits (PostgreSQL; see _rows_waiting).
        engine = sessions.kw.get("bind")
        self._probe = engine if engine is not None and engine.dialect.name == "postgresql" else None

    async def run(self) -> None:
        backoff = self.poll_s
        nudged = True  # the first round reads whatever an earlier process left
        while not self._stopping.is_set():
            try:
                # A poll nobody nudged (this process committed nothing since) first asks whether any row
                # waits at all (another process's, an old one's): most polls find nothing, and the locking
                # read costs three round trips and a session where the question costs one.
                if nudged or not self.healthy or await self._rows_waiting():
                    sent = await self.relay_once()
                    self.healthy = True
                    backoff = self.poll_s
                    if sent == self.batch_size:
                        continue  # more waiting: don't sleep
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, DB busy: rows stay, try again later
                self.healthy = False
                log.warning("outbox relay failed; will retry", extra={"error": repr(exc)})
                backoff = min(backoff * 2, 5.0)
            nudged = await self.outbox.wait(backoff)
            if self._reset_backoff:
                self._reset_backoff, backoff = False, self.poll_s

    async def _rows_waiting(self) -> bool:
        """Whether the outbox holds any row, asked in one round trip outside a transaction (PostgreSQL: no
        BEGIN, no ROLLBACK, no lock). SQLite answers True: the relay's own read is as cheap in-process."""
        if self._probe is None:
            return True
        table = self.outbox.table
        async with self._probe.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return (await conn.execute(select(table.c.id).limit(1))).first() is not None

    def stop(self) -> None:
        self._stopping.set()
        self.outbox.nudge()

    def wake(self) -> None:
        """Try again now (NATS is back), whatever the backoff said."""
        self._reset_backoff = True
        self.outbox.nudge()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were published and removed."""
        table = self.outbox.table
        query = select(table.c.id, table.c.subject, table.c.payload).order_by(
            table.c.created_at, table.c.seq).limit(self.batch_size)
        async with self.sessions() as session:
            on_postgres = session.bind.dialect.name == "postgresql"
            if on_postgres:
                # Two relays (two processes of a service) take disjoint batches; row locks block no writer.
                rows = (await session.execute(query.with_for_update(skip_locked=True))).all()
                done, failed = await self._publish(rows)
                await self._settle(session, done, failed)
            else:
                rows = (await session.execute(query)).all()
        if not on_postgres:
            # SQLite's transactions take the database's write lock: never hold it while waiting for
            # JetStream. Read, publish, then settle in a second short transaction. A row published twice
            # by two relays is dropped by JetStream's duplicate window and, past it, by consumers' inboxes.
            done, failed = await self._publish(rows)
            async with self.sessions() as settle:
                await self._settle(settle, done, failed)
        if self.on_published:
            published = set(done)
            for row in rows:
                if row.id in published:
                    self.on_published(row.subject)
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(rows)} outbox events not published: {failed[0][1]!r}")
        return len(done)

    async def _publish(self, rows: Sequence[Any]) -> tuple[list[str], list[tuple[str, BaseException]]]:
        """Send every row in order, then wait for their acks together; (acked ids, failures)."""
        futures: list[asyncio.Future[Any]] = []
        failed: list[tuple[str, BaseException]] = []
        for n, row in enumerate(rows):
            try:
                futures.append(await self.start_publish(row.subject, row.payload, row.id))
            except Exception as exc:  # not even sent (NATS gone): the rest of the batch waits for next time
                failed.extend((r.id, exc) for r in rows[n:])
                break
        if futures:
            _, pending = await asyncio.wait(futures, timeout=self.ack_timeout_s)
            for future in pending:
                future.cancel()
        done: list[str] = []
        for row, future in zip(rows, futures, strict=False):
            exc = TimeoutError("no JetStream ack in time") if future.cancelled() else future.exception()
            if exc is None:
                done.append(row.id)
            else:
                failed.append((row.id, exc))
        return done, failed

    async def _settle(self, session: AsyncSession, done: list[str], failed: list[tuple[str, BaseException]]) -> None:
        table = self.outbox.table
        if done:
            await session.execute(delete(table).where(table.c.id.in_(done)))
        for row_id, exc in failed[:50]:
            await session.execute(table.update().where(table.c.id == row_id).values(
                attempts=table.c.attempts + 1, last_error=repr(exc)[:1000]))
        if done or failed:  # an empty poll ends in a rollback: nothing to make durable
            await session.commit()


async def mark_processed_many(session: AsyncSession, inbox: Table, *, consumer: str,
                              event_ids: list[str]) -> set[str]:
    """Record a batch of event ids in one statement; the ids `consumer` had not seen before."""
    if not event_ids:
        return set()
    now = utcnow()
    rows = [{"consumer": consumer, "event_id": e, "processed_at": now} for e in dict.fromkeys(event_ids)]
    return set((await session.execute(_first_time(session.bind.dialect.name, inbox), rows)).scalars())


_FIRST_TIME: dict[tuple[str, Table], Any] = {}


def _first_time(dialect: str, inbox: Table) -> Any:
    """The inbox's INSERT … ON CONFLICT DO NOTHING RETURNING event_id, built once per dialect and table. The rows
    go as executemany parameters, not `.values([...])`: SQLAlchemy compiles a multi-values INSERT afresh on every
    call (it has no cache key), a tenth of a consumer's CPU; this statement is compiled once and sent as one
    multi-row INSERT all the same (insertmanyvalues). Built once, it also keeps its cache key, which SQLAlchemy
    would otherwise derive again for every batch."""
    stmt = _FIRST_TIME.get((dialect, inbox))
    if stmt is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = _FIRST_TIME[dialect, inbox] = (
            insert(inbox).on_conflict_do_nothing(index_elements=["consumer", "event_id"]).returning(inbox.c.event_id))
    return stmt


async def mark_processed(session: AsyncSession, inbox: Table, *, consumer: str, event_id: str) -> bool:
    """Record that `consumer` applied `event_id` in this transaction; False if it already had."""
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(inbox).values(consumer=consumer, event_id=event_id, processed_at=utcnow())
    result = await session.execute(stmt.on_conflict_do_nothing(index_elements=["consumer", "event_id"]))
    return result.rowcount == 1
