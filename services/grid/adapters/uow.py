"""Grid's unit of work: the shared transaction with grid's repositories on it (the only place its SQL lives)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.grid.adapters.event_repository import GridEventRepository
from shared.uow import UnitOfWork


class GridUnitOfWork(UnitOfWork):
    grid_events: GridEventRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.grid_events = GridEventRepository(session)
