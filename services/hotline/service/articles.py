"""知识库 articles: written, read and searched by the operators; each edit updates this process's index at
once and bumps the revision the other processes poll (service/knowledge.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.hotline.adapters.orm import KnowledgeArticle
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.domain import appeal as appeal_domain
from services.hotline.service.common import HotlineContext
from services.hotline.service.knowledge import to_article
from shared.errors import Invalid, NotFound
from shared.events.envelope import utcnow


@dataclass(frozen=True, kw_only=True)
class WriteArticle:
    category_code: str | None
    title: str
    body: str
    valid_from: date | None = None
    valid_to: date | None = None


def _check_article(ctx: HotlineContext, data: WriteArticle) -> None:
    if data.category_code is not None and ctx.categories.get(data.category_code) is None:
        raise Invalid("category_code", f"诉求分类代码不存在：{data.category_code!r} (unknown category code)")
    if data.valid_from and data.valid_to and data.valid_to < data.valid_from:
        raise Invalid("valid_to", "失效日期早于生效日期 (valid_to is before valid_from)")
    if not appeal_domain.clean_text(data.title):
        raise Invalid("title", "标题不能为空 (the title is empty)")
    if not appeal_domain.clean_text(data.body):
        raise Invalid("body", "正文不能为空 (the text is empty)")


async def create_article(*, uow: HotlineUnitOfWork, ctx: HotlineContext, data: WriteArticle, editor: str) -> KnowledgeArticle:
    """Add a knowledge-base article; the search index has it as soon as this returns."""
    _check_article(ctx, data)
    now = utcnow()
    async with uow:
        row = KnowledgeArticle(id=str(uuid.uuid4()), category_code=data.category_code, title=data.title.strip(),
                               body=data.body.strip(), valid_from=data.valid_from, valid_to=data.valid_to,
                               updated_by=editor, created_at=now, updated_at=now)
        uow.knowledge.add(row)
        revision = await uow.knowledge.bump_revision()
        await uow.commit()
    ctx.knowledge.applied(revision, put=to_article(row))
    return row


async def update_article(*, uow: HotlineUnitOfWork, ctx: HotlineContext, article_id: str, data: WriteArticle,
                         editor: str) -> KnowledgeArticle:
    """Replace an article's fields; the index is updated with it."""
    _check_article(ctx, data)
    async with uow:
        row = await uow.knowledge.get(article_id)
        if row is None:
            raise NotFound(f"知识库条目 {article_id} 不存在")
        row.category_code, row.title, row.body = data.category_code, data.title.strip(), data.body.strip()
        row.valid_from, row.valid_to, row.updated_by, row.updated_at = (data.valid_from, data.valid_to, editor,
                                                                        utcnow())
        revision = await uow.knowledge.bump_revision()
        await uow.commit()
    ctx.knowledge.applied(revision, put=to_article(row))
    return row


async def delete_article(*, uow: HotlineUnitOfWork, ctx: HotlineContext, article_id: str) -> None:
    """Remove an article (appeals answered from it keep its id)."""
    async with uow:
        if not await uow.knowledge.delete(article_id):
            raise NotFound(f"知识库条目 {article_id} 不存在")
        revision = await uow.knowledge.bump_revision()
        await uow.commit()
    ctx.knowledge.applied(revision, drop=article_id)


async def get_article(*, uow: HotlineUnitOfWork, article_id: str) -> KnowledgeArticle:
    """One article."""
    async with uow:
        row = await uow.knowledge.get(article_id)
    if row is None:
        raise NotFound(f"知识库条目 {article_id} 不存在")
    return row


async def list_articles(*, uow: HotlineUnitOfWork, category: str | None, offset: int, limit: int) -> list[KnowledgeArticle]:
    """Articles by category prefix, most recently edited first."""
    async with uow:
        return await uow.knowledge.listed(category=category, offset=offset, limit=limit)


def search_articles(*, ctx: HotlineContext, query: str, category: str | None,
                          limit: int) -> list[dict[str, Any]]:
    """Ranked articles in force today for the operator's words."""
    hits = ctx.knowledge.search(query, category=category, limit=limit)
    out = []
    for hit in hits:
        article = ctx.knowledge.index.get(hit.article_id)
        if article is None:
            continue
        out.append({"id": hit.article_id, "title": article.title, "category_code": article.category_code,
                    "score": hit.score, "snippet": hit.snippet})
    return out
