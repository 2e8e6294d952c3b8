"""Unit of work: one database transaction holding a change, its audit rows and its outbox events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent
from shared.outbox import Outbox, mark_processed


class UnitOfWork:
    """`async with uow:` opens a transaction; `commit()` makes the change and its events durable together."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, inbox: Table) -> None:
        self._sessions = sessions
        self.outbox = outbox
        self.inbox = inbox
        self.session: AsyncSession
        self.events: list[CloudEvent[Any]] = []

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self.events = []
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # close() rolls back whatever was not committed and detaches objects without expiring them,
        # so what a handler read stays readable after the block.
        await self.session.close()

    async def emit(self, spec: EventSpec, data: BaseModel, *, subject: str | None = None,
                   event_id: str | None = None) -> CloudEvent[Any]:
        """Stage an event to be published if and only if this transaction commits."""
        event = await self.outbox.add(self.session, spec, data, subject=subject, event_id=event_id)
        self.events.append(event)
        return event

    async def first_delivery(self, *, consumer: str, event_id: str) -> bool:
        """True the first time `consumer` sees `event_id` (recorded in this transaction)."""
        return await mark_processed(self.session, self.inbox, consumer=consumer, event_id=event_id)

    async def commit(self) -> None:
        await self.session.commit()
        if self.events:
            self.outbox.nudge()
