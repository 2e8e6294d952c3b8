"""Transactional outbox and inbox.

A service writes its state change and the event that announces it in one database transaction (the
outbox row). A relay (shared/relay.py) publishes outbox rows to JetStream with `Nats-Msg-Id` = event id and
deletes them once the server has acknowledged them: the rows a process committed itself are handed to its
relay in memory after the commit, and a sweep of the table publishes whatever nobody handed over. If NATS is down the rows wait; nothing committed is lost, and a
row published twice (a relay killed between ack and delete) is dropped by JetStream's dedup window and,
past it, by the consumers' inbox.

The inbox (`processed_event`) records which event ids a consumer has applied, in the same transaction
as the effect, so a redelivered event has no second effect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime
from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent, utcnow


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
    return _ANY_EVENT(**fields)


_ANY_EVENT = CloudEvent[Any]  # parametrised once: the subscript is a lookup of its own on every event


class Queued(NamedTuple):
    """A committed outbox row handed to the relay by the process that committed it."""

    id: str
    subject: str
    payload: bytes


class Outbox:
    """Adds events to the outbox inside a caller's transaction and, after commit, hands the relay what it wrote.

    `committed(rows)` queues a commit's rows in memory, in commit order, for the relay to publish without
    reading the table (see shared/relay.py). The table stays the truth: a queued copy may always be dropped
    (past `queue_cap`, or after a failed publish: `refuse`), and the relay's sweep then publishes the row from
    the table, in its write order, before anything queued later.
    """

    def __init__(self, table: Table, *, source: str, queue_cap: int = 10_000) -> None:
        self.table = table
        self.source = source
        self.queue_cap = queue_cap
        self.queue: deque[Queued] = deque()
        # False after `refuse` until the relay's catch-up sweep has begun: rows committed meanwhile are only
        # in the table, and a later row must not overtake them by the queue.
        self.accepting = True
        self._wake = asyncio.Event()
        self._sweep_asked = False
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
        """Write an event into the session's transaction; it is published only if the transaction commits
        (call `nudge` after the commit, or the relay's next sweep finds it)."""
        event, row = self.row(spec, data, subject=subject, event_id=event_id)
        await session.execute(self.table.insert().values(**row))
        return event

    def committed(self, rows: list[dict[str, Any]]) -> None:
        """Rows of `self.table` that were just committed: the relay publishes them from memory."""
        if not rows:
            return
        if not self.accepting:
            return  # the relay is catching up from the table (it reads these there)
        if len(self.queue) + len(rows) > self.queue_cap:
            # The relay is far behind (NATS slow or away): keep memory bounded. Every dropped copy is in the
            # table, and the sweep publishes them all in write order before anything queued after.
            self.refuse()
            self._wake.set()
            return
        self.queue.extend(Queued(r["id"], r["subject"], r["payload"]) for r in rows)
        self._wake.set()

    def refuse(self) -> None:
        """Drop the queued copies and queue nothing until `accept`: the table alone holds what waits."""
        self.accepting = False
        self.queue.clear()

    def accept(self) -> None:
        self.accepting = True

    def take(self, limit: int) -> list[Queued]:
        """Up to `limit` queued rows, oldest first, removed from the queue."""
        queue = self.queue
        return [queue.popleft() for _ in range(min(limit, len(queue)))]

    def nudge(self) -> None:
        """Tell the relay rows were committed that it was not handed (`add`, another writer): sweep now
        rather than at its next poll."""
        self._sweep_asked = True
        self._wake.set()

    @property
    def sweep_pending(self) -> bool:
        return self._sweep_asked

    def sweep_asked(self) -> bool:
        """Whether `nudge` was called since the last time this was asked."""
        asked, self._sweep_asked = self._sweep_asked, False
        return asked

    async def wait(self, timeout: float) -> None:
        """Until something was queued or nudged, or `timeout` passed."""
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()


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
