"""The knowledge base's SQL: articles, and the revision counter every edit bumps in its own transaction (other
processes poll it to know their search index is stale)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.hotline.adapters.orm import KnowledgeArticle, metadata

REVISION_COUNTER = "knowledge_revision"


class KnowledgeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, article: KnowledgeArticle) -> None:
        self.session.add(article)

    async def get(self, article_id: str) -> KnowledgeArticle | None:
        return await self.session.get(KnowledgeArticle, article_id)

    async def delete(self, article_id: str) -> bool:
        """False when there was no such article."""
        result = await self.session.execute(delete(KnowledgeArticle).where(KnowledgeArticle.id == article_id))
        return bool(result.rowcount)

    async def listed(self, *, category: str | None, offset: int, limit: int) -> list[KnowledgeArticle]:
        """Articles by category prefix, most recently edited first."""
        query = select(KnowledgeArticle).order_by(KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id)
        if category:
            query = query.where(KnowledgeArticle.category_code.startswith(category))
        return list((await self.session.execute(query.offset(offset).limit(limit))).scalars().all())

    async def every(self) -> Sequence[KnowledgeArticle]:
        return (await self.session.execute(select(KnowledgeArticle))).scalars().all()

    async def count(self) -> int:
        return (await self.session.execute(select(func.count()).select_from(KnowledgeArticle))).scalar_one()

    async def count_answer(self, article_id: str) -> None:
        """One more call answered from this article."""
        await self.session.execute(update(KnowledgeArticle).where(KnowledgeArticle.id == article_id)
                                   .values(answer_count=KnowledgeArticle.answer_count + 1))

    async def bump_revision(self) -> int:
        """The next knowledge revision, in this transaction (the row lock orders concurrent edits)."""
        table = metadata.tables["counter"]
        value = (await self.session.execute(
            update(table).where(table.c.name == REVISION_COUNTER).values(value=table.c.value + 1)
            .returning(table.c.value))).scalar_one_or_none()
        if value is None:
            await self.session.execute(table.insert().values(name=REVISION_COUNTER, value=1))
            value = 1
        return int(value)

    async def revision(self) -> int:
        table = metadata.tables["counter"]
        value = (await self.session.execute(select(table.c.value).where(table.c.name == REVISION_COUNTER))).scalar()
        return int(value or 0)
