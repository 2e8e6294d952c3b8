"""Intake's unit of work: the shared transaction with intake's repositories on it (the only place its SQL lives)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.adapters.repository import (
    IncidentRepository,
    Open311RequestRepository,
    OrderStatusRepository,
)
from shared.uow import UnitOfWork


class IntakeUnitOfWork(UnitOfWork):
    incidents: IncidentRepository
    open311_requests: Open311RequestRepository
    order_statuses: OrderStatusRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.incidents = IncidentRepository(session)
        self.open311_requests = Open311RequestRepository(session)
        self.order_statuses = OrderStatusRepository(session)
