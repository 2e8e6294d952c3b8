"""Unit of work: one database transaction holding a change, its audit rows and its outbox events.

A service's own unit of work subclasses this one and opens its repositories (the only place its SQL lives) in
`open_repositories`, e.g. `self.orders = OrderRepository(session)`; its composition root hands the class to the
runtime (`Runtime.unit_of_work`), and its handler unit tests use an in-memory fake with the same attributes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Insert, Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.counters import Numbers
from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent
from shared.idempotency import IdempotencyKeys
from shared.outbox import Outbox, mark_processed, mark_processed_many

_INSERTS: dict[Table, Insert] = {}


def _insert(table: Table) -> Insert:
    """`table.insert()`, built once: a statement object keeps its cache key, which SQLAlchemy would otherwise
    derive again for every commit."""
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = table.insert()
    return statement


class UnitOfWork:
    """`async with uow:` opens a transaction; `commit()` makes the change and its events durable together."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, inbox: Table,
                 numbers: Numbers | None = None) -> None:
        self._sessions = sessions
        self.outbox = outbox
        self.inbox = inbox
        self.numbers = numbers
        self.session: AsyncSession
        self.events: list[CloudEvent[Any]] = []
        self._staged: dict[Table, list[dict[str, Any]]] = {}

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self.events = []
        self._staged = {}
        self.open_repositories(self.session)
        return self

    def open_repositories(self, session: AsyncSession) -> None:
        """Put the service's repositories on this transaction's session (a fresh set per `async with`)."""

    async def __aexit__(self, *exc_info: object) -> None:
        # close() rolls back whatever was not committed and detaches objects without expiring them,
        # so what a handler read stays readable after the block.
        await self.session.close()

    async def emit(self, spec: EventSpec, data: BaseModel, *, subject: str | None = None,
                   event_id: str | None = None) -> CloudEvent[Any]:
        """Stage an event to be published if and only if this transaction commits."""
        event, row = self.outbox.row(spec, data, subject=subject, event_id=event_id)
        self.stage(self.outbox.table, row)
        self.events.append(event)
        return event

    def stage(self, table: Table, row: dict[str, Any]) -> None:
        """Insert a row at commit, together with the others of its table (one multi-row INSERT each):
        for append-only rows like outbox events and audit records that nothing reads back before commit."""
        self._staged.setdefault(table, []).append(row)

    async def flush_staged(self) -> None:
        for table, rows in self._staged.items():
            if rows:
                await self.session.execute(_insert(table), rows)
        self._staged = {}

    async def first_delivery(self, *, consumer: str, event_id: str) -> bool:
        """True the first time `consumer` sees `event_id` (recorded in this transaction)."""
        return await mark_processed(self.session, self.inbox, consumer=consumer, event_id=event_id)

    async def first_deliveries(self, *, consumer: str, event_ids: list[str]) -> set[str]:
        """The ids among `event_ids` that `consumer` sees for the first time (recorded in one statement)."""
        return await mark_processed_many(self.session, self.inbox, consumer=consumer, event_ids=event_ids)

    async def next_number(self, *, prefix: str, day: str, width: int = 6, separator: str = "") -> str:
        """The next running number of the day (unique across processes; see `shared.counters`)."""
        assert self.numbers is not None, "this unit of work was built without a number source"
        return await self.numbers.next(self.session, prefix=prefix, day=day, width=width, separator=separator)

    async def take_numbers(self, *, prefix: str, day: str, count: int, width: int = 6,
                           separator: str = "") -> list[str]:
        """`count` running numbers of the day, ascending (unique across processes; see `shared.counters`)."""
        assert self.numbers is not None, "this unit of work was built without a number source"
        return await self.numbers.take(self.session, prefix=prefix, day=day, count=count, width=width,
                                       separator=separator)

    def idempotency_keys(self, table: Table) -> IdempotencyKeys:
        """The stored answers of idempotent creates (shared/idempotency.py) in this transaction."""
        return IdempotencyKeys(self.session, table)

    async def rollback(self) -> None:
        self._staged, self.events = {}, []
        await self.session.rollback()

    async def commit(self) -> None:
        events = self._staged.get(self.outbox.table, [])
        await self.flush_staged()
        try:
            await self.session.commit()
        except BaseException:
            if events:
                # The COMMIT may have reached the server before the error (a dropped connection, a cancel):
                # then these rows are in the table. Queue nothing newer until the sweep has read the table in
                # order, so a later event of the same aggregate cannot overtake them on the stream.
                self.outbox.refuse()
                self.outbox.nudge()
            raise
        # Committed: the relay publishes these from memory, no read of the table (it is the fallback).
        self.outbox.committed(events)
