"""Grid's unit of work: the shared transaction with grid's repositories on it (the only place its SQL lives)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.grid.adapters.event_repository import (
    GridEventRepository,
    PatrolRepository,
    PhotoRepository,
    WebhookRepository,
)
from services.grid.adapters.registry_repository import GridRegistryRepository
from shared.uow import UnitOfWork


class GridUnitOfWork(UnitOfWork):
    grid_events: GridEventRepository
    photos: PhotoRepository
    patrols: PatrolRepository
    webhooks: WebhookRepository
    registry: GridRegistryRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.grid_events = GridEventRepository(session)
        self.photos = PhotoRepository(session)
        self.patrols = PatrolRepository(session)
        self.webhooks = WebhookRepository(session)
        self.registry = GridRegistryRepository(session)
