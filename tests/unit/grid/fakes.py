"""Grid's unit of work in memory: uow.grid_events keeps rows as plain objects, no database.

Each fake method answers what its SQL twin in services/grid/adapters/event_repository.py would; a method no test
reaches is left out rather than faked half-way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from tests.support.fake_uow import FakeUnitOfWork


class FakeGridEvents:
    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}
        self.photos: dict[str, tuple[str, int]] = {}  # id -> (content type, size): what was uploaded
        self.change_seq = 0

    async def get(self, event_id: str) -> SimpleNamespace | None:
        return self.rows.get(event_id)

    async def by_ids(self, ids: Iterable[str]) -> dict[str, SimpleNamespace]:
        return {i: self.rows[i] for i in set(ids) if i in self.rows}

    async def by_client_ids(self, key_ids: Iterable[str], client_ids: Iterable[str]) -> list[SimpleNamespace]:
        keys, clients = set(key_ids), set(client_ids)
        return [r for r in self.rows.values() if r.key_id in keys and r.client_id in clients]

    async def known_photos(self, ids: Iterable[str]) -> set[str]:
        return set(ids) & set(self.photos)

    async def photo_types(self, ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        return {i: self.photos[i] for i in set(ids) if i in self.photos}

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.rows[row["id"]] = SimpleNamespace(**row)

    async def next_change(self, *, count: int = 1) -> int:
        self.change_seq += count
        return self.change_seq


class FakeGridUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__(source="/mcc/grid")
        self.grid_events = FakeGridEvents()
