"""Intake's unit of work in memory: uow.incidents keeps incident rows (their values as attributes), no database.

Each fake method answers what its SQL twin in services/intake/adapters/repository.py would; a method no test
reaches is left out rather than faked half-way.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.support.fake_uow import FakeUnitOfWork


class FakeIncidents:
    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    async def get(self, incident_id: str, *, for_update: bool = False) -> Any:
        return self.rows.get(incident_id)

    async def add_new(self, rows: list[dict[str, Any]]) -> set[str]:
        new = [row for row in rows if row["id"] not in self.rows]
        self.rows.update((row["id"], SimpleNamespace(**row)) for row in new)
        return {row["id"] for row in new}


class FakeIntakeUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__(source="/mcc/intake")
        self.incidents = FakeIncidents()
