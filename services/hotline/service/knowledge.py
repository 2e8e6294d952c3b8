"""The knowledge base's in-memory search index, kept current with the articles table.

Each process holds one `KnowledgeIndex`. Edits made through this process update it at once; edits made
by another process are noticed through a revision counter (bumped in every edit's transaction) that a
background loop polls, and the index is then rebuilt from the table in a worker thread, so a build of
10,000 articles never blocks the event loop. Searches always run against a complete index: a rebuild
swaps the new one in only when it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.exc import IntegrityError

from services.hotline.adapters.orm import KnowledgeArticle
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.domain.knowledge import Article, Hit, KnowledgeIndex
from shared.events.envelope import utcnow

log = logging.getLogger("mcc.hotline.knowledge")

SEED_FILE = Path(__file__).resolve().parent.parent / "adapters" / "knowledge_seed.yaml"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # article validity dates are the city's calendar days


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


def to_article(row: KnowledgeArticle) -> Article:
    return Article(article_id=row.id, title=row.title, body=row.body, category_code=row.category_code,
                   valid_from=row.valid_from, valid_to=row.valid_to)


class KnowledgeBase:
    """The process's search index and the revision of the table it reflects."""

    def __init__(self) -> None:
        self.index = KnowledgeIndex()
        self.revision = -1
        self._refreshing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def search(self, query: str, *, category: str | None = None, limit: int = 10,
               day: date | None = None) -> list[Hit]:
        return self.index.search(query, today=day or today(), category=category, limit=limit)

    def applied(self, revision: int, *, put: Article | None = None, drop: str | None = None) -> None:
        """An edit this process committed: apply it now. A gap in revisions means another process edited
        too; the poll loop rebuilds then, so the revision is only advanced when nothing was missed."""
        if put is not None:
            self.index.add(put)
        if drop is not None:
            self.index.remove(drop)
        if revision == self.revision + 1:
            self.revision = revision

    async def refresh(self, new_uow: Callable[[], HotlineUnitOfWork]) -> bool:
        """Rebuild from the table when its revision moved; True when it did."""
        async with self._refreshing:
            async with new_uow() as uow:
                revision = await uow.knowledge.revision()
                if revision == self.revision:
                    return False
                rows = await uow.knowledge.every()
                articles = [to_article(r) for r in rows]
            self.index = await asyncio.to_thread(KnowledgeIndex.build, articles)
            self.revision = revision
            log.info("knowledge index built", extra={"articles": len(articles), "revision": revision})
            return True

    def start_polling(self, new_uow: Callable[[], HotlineUnitOfWork], every_s: float) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every_s)
                try:
                    await self.refresh(new_uow)
                except Exception:  # a database blip: keep serving the index we have
                    log.exception("knowledge index refresh failed")

        self._task = asyncio.create_task(loop(), name="hotline-knowledge-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def seed_articles(path: Path = SEED_FILE) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data.get("articles", ()))


async def seed_if_empty(new_uow: Callable[[], HotlineUnitOfWork], path: Path = SEED_FILE) -> int:
    """Load the demo articles into an empty table; how many were added (0 when it had any)."""
    async with new_uow() as uow:
        if await uow.knowledge.count():
            return 0
        now = utcnow()
        items = seed_articles(path)
        for item in items:
            uow.knowledge.add(KnowledgeArticle(
                id=item["id"], category_code=item.get("category_code"), title=item["title"],
                body=item["body"].strip(), valid_from=item.get("valid_from"), valid_to=item.get("valid_to"),
                updated_by="system:seed", created_at=now, updated_at=now))
        await uow.knowledge.bump_revision()
        try:
            await uow.commit()
        except IntegrityError:  # another process seeded at the same moment (the ids are fixed)
            return 0
        return len(items)
