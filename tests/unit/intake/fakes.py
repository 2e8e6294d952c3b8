"""Intake's unit of work in memory: uow.incidents keeps Incident rows, no database.

Each fake method answers what its SQL twin in services/intake/adapters/repository.py would; a method no test
reaches is left out rather than faked half-way.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tests.support.fake_uow import FakeUnitOfWork


class FakeIncidents:
    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    async def get(self, incident_id: str, *, for_update: bool = False) -> Any:
        return self.rows.get(incident_id)

    def add(self, row: Any) -> None:
        self.rows[row.id] = row

    async def known(self, incident_ids: Collection[str]) -> set[str]:
        return set(incident_ids) & set(self.rows)


class FakeIntakeUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__(source="/mcc/intake")
        self.incidents = FakeIncidents()
