"""Dispatch's unit of work: the shared one (transaction, outbox, inbox, running numbers) with dispatch's
repositories on it, the only place its SQL lives. The composition root hands the class to the runtime;
handler unit tests use an in-memory fake with the same attributes (tests/unit/dispatch/fake_uow.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.access_log import AccessLogRepository
from services.dispatch.adapters.accounts import AccountRepository
from services.dispatch.adapters.board_queries import OrderReads
from services.dispatch.adapters.buckets import SurgeRepository
from services.dispatch.adapters.org_units import CounterRepository, OrgUnitRepository
from services.dispatch.adapters.repository import DispositionRepository, OrderRepository
from shared.uow import UnitOfWork


class DispatchUnitOfWork(UnitOfWork):
    orders: OrderRepository  # one order at a time, and the timer's batches
    order_reads: OrderReads  # queues, searches and counts over many orders
    access_log: AccessLogRepository
    org_units: OrgUnitRepository
    counters: CounterRepository
    surges: SurgeRepository
    dispositions: DispositionRepository
    accounts: AccountRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.orders = OrderRepository(session)
        self.order_reads = OrderReads(session)
        self.access_log = AccessLogRepository(session)
        self.org_units = OrgUnitRepository(session)
        self.counters = CounterRepository(session)
        self.surges = SurgeRepository(session)
        self.dispositions = DispositionRepository(session)
        self.accounts = AccountRepository(self)
