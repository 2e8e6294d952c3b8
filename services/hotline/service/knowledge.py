"""The knowledge base's in-memory search index, kept current with the articles table.

Each process holds one `KnowledgeIndex`. Edits made through this process update it at once; edits made
by another process are noticed through a revision counter (bumped in every edit's transaction) that a
background job polls (the one snapshot follower of shared/snapshots.py), and the index is then rebuilt from
the table in a worker thread, so a build of 10,000 articles never blocks the event loop. Searches always run
against a complete index: a rebuild swaps the new one in only when it is done.
"""

from __future__ import annotations

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
from shared.runtime import Runtime
from shared.snapshots import Follower, Snapshot

SEED_FILE = Path(__file__).resolve().parent.parent / "adapters" / "knowledge_seed.yaml"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # article validity dates are the city's calendar days


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


def to_article(row: KnowledgeArticle) -> Article:
    return Article(article_id=row.id, title=row.title, body=row.body, category_code=row.category_code,
                   valid_from=row.valid_from, valid_to=row.valid_to)


class TableSource:
    """The articles table as a snapshot source (shared/snapshots.py): its version is the revision every edit
    bumps in its own transaction, its snapshot every article, read with the revision it belongs to."""

    def __init__(self, new_uow: Callable[[], HotlineUnitOfWork]) -> None:
        self.new_uow = new_uow

    async def version(self) -> int:
        async with self.new_uow() as uow:
            return await uow.knowledge.revision()

    async def snapshot(self) -> Snapshot:
        async with self.new_uow() as uow:
            revision = await uow.knowledge.revision()
            return Snapshot(revision, [to_article(r) for r in await uow.knowledge.every()])


class KnowledgeBase:
    """The process's search index, followed at the table's revision by the one snapshot follower
    (shared/snapshots.py, rebuilt in a worker thread); edits made here are applied to it at once."""

    def __init__(self) -> None:
        self._follower: Follower[KnowledgeIndex] | None = None
        self._before_first = KnowledgeIndex()  # served until the table was first read

    @property
    def index(self) -> KnowledgeIndex:
        held = self._follower.value if self._follower is not None else None
        return held if held is not None else self._before_first

    @property
    def revision(self) -> int:
        held = self._follower.version if self._follower is not None else None
        return held if held is not None else -1

    def search(self, query: str, *, category: str | None = None, limit: int = 10,
               day: date | None = None) -> list[Hit]:
        return self.index.search(query, today=day or today(), category=category, limit=limit)

    def applied(self, revision: int, *, put: Article | None = None, drop: str | None = None) -> None:
        """An edit this process committed: apply it now. A gap in revisions means another process edited
        too; the follower rebuilds then, so the revision is only advanced when nothing was missed."""
        if put is not None:
            self.index.add(put)
        if drop is not None:
            self.index.remove(drop)
        if self._follower is not None and revision == self.revision + 1:
            self._follower.version = revision  # the index held is this revision's: no rebuild for our own edit

    def _follow(self, new_uow: Callable[[], HotlineUnitOfWork]) -> Follower[KnowledgeIndex]:
        if self._follower is None:
            self._follower = Follower("knowledge-index", source=TableSource(new_uow), build=KnowledgeIndex.build,
                                      poll_s=60.0)
        return self._follower

    async def refresh(self, new_uow: Callable[[], HotlineUnitOfWork]) -> bool:
        """Rebuild from the table when its revision moved; True when it did."""
        return await self._follow(new_uow).refresh()

    async def start(self, runtime: Runtime, every_s: float) -> None:
        """Follow the table's revision as one of the runtime's background jobs (a database blip keeps the
        index at hand)."""
        follower = self._follow(runtime.uow)  # type: ignore[arg-type]
        follower.poll_s = every_s
        await follower.start(runtime)

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()


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
