"""The hotline's unit of work in memory: the repositories' answers from plain rows, no database.

Each fake repository keeps the rows its real one would read back (tests/support/fake_uow.py keeps the events);
a method a test does not reach is left out rather than faked half-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from tests.support.fake_uow import FakeUnitOfWork

_WITH_ORDER = ("dispatched", "linked")  # as adapters/appeal_queries.py reads them


class FakeAppeals:
    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["id"]] = SimpleNamespace(**row)

    async def count_linked(self, appeal_id: str, by: int = 1) -> None:
        self.rows[appeal_id].linked_count += by

    async def get(self, ref: str) -> SimpleNamespace | None:
        return next((r for r in self.rows.values() if ref in (r.id, r.number)), None)

    async def by_number(self, number: str) -> SimpleNamespace | None:
        return next((r for r in self.rows.values() if r.number == number), None)

    async def by_number_or_order(self, ref: str) -> Sequence[SimpleNamespace]:
        return sorted((r for r in self.rows.values() if ref in (r.number, r.order_number)),
                      key=lambda r: r.created_at)

    async def by_numbers(self, numbers: list[str]) -> dict[str, SimpleNamespace]:
        return {r.number: r for r in self.rows.values() if r.number in numbers}

    async def order_followers(self, incident_ids: list[str]) -> list[SimpleNamespace]:
        return [r for r in self.rows.values() if r.incident_id in incident_ids]

    async def write_order_values(self, latest: list[dict[str, Any]]) -> None:
        for item in latest:
            values = {k[2:]: v for k, v in item.items() if k.startswith("v_")}
            for r in self.rows.values():
                if r.id == item["b_id"] or r.master_number == item["b_number"]:
                    vars(r).update(values)

    def _recent(self, keep: Any, since: datetime, limit: int) -> list[SimpleNamespace]:
        rows = [r for r in self.rows.values()
                if r.created_at >= since and r.disposition in _WITH_ORDER and keep(r)]
        return sorted(rows, key=lambda r: r.created_at, reverse=True)[:limit]

    async def recent_by_caller(self, *, phone: str, since: datetime, limit: int) -> list[SimpleNamespace]:
        return self._recent(lambda r: r.caller_phone == phone, since, limit)

    async def recent_by_callers(self, *, phones: list[str], since: datetime, limit: int) -> list[SimpleNamespace]:
        return self._recent(lambda r: r.caller_phone in phones, since, limit)

    async def recent_in_boxes(self, *, boxes: list[tuple[str, tuple[float, float, float, float]]],
                              cells: list[int] | None, since: datetime, limit: int) -> list[SimpleNamespace]:
        def inside(r: SimpleNamespace) -> bool:
            return r.lat is not None and any(r.category_code == category and west <= r.lon <= east
                                             and south <= r.lat <= north
                                             for category, (west, south, east, north) in boxes)

        return self._recent(lambda r: inside(r) and (cells is None or r.cell in cells), since, limit)


class FakeKnowledge:
    def __init__(self) -> None:
        self.articles: dict[str, Any] = {}

    async def get(self, article_id: str) -> Any:
        return self.articles.get(article_id)

    async def count_answer(self, article_id: str) -> None:
        self.articles[article_id].answer_count += 1


class FakeHotlineUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__(source="/mcc/hotline")
        self.appeals = FakeAppeals()
        self.knowledge = FakeKnowledge()
