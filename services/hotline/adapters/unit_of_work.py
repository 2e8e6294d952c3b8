"""Hotline's unit of work: the shared one (shared/uow.py) with the hotline's repositories, the only place its
SQL lives. The composition root hands it to the runtime; handler unit tests use an in-memory fake with the
same attributes (tests/unit/hotline/fakes.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.hotline.adapters.appeals_repository import AppealRepository
from services.hotline.adapters.followups import FollowUpRepository
from services.hotline.adapters.knowledge_repository import KnowledgeRepository
from shared.uow import UnitOfWork


class HotlineUnitOfWork(UnitOfWork):
    appeals: AppealRepository
    knowledge: KnowledgeRepository
    followups: FollowUpRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.appeals = AppealRepository(session, self.stage)
        self.knowledge = KnowledgeRepository(session)
        self.followups = FollowUpRepository(session)
