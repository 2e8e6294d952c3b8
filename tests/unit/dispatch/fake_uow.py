"""Dispatch's unit of work without a database: in-memory repositories under the names the real one gives
its SQL ones (services/dispatch/adapters/unit_of_work.py), for handler unit tests.

Only what the tested use cases reach is here; a handler reaching further fails loudly (AttributeError).
Rows are kept as plain namespaces; `get` hands out a copy, as a new transaction reads a fresh row, and
`save` writes only against the version that was read, as the SQL one does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from services.dispatch.adapters.accounts import audit
from services.dispatch.adapters.repository import StaleOrder
from tests.support.fake_uow import FakeUnitOfWork


class FakeOrders:
    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}

    def put(self, **values: Any) -> SimpleNamespace:
        """Store an order as a test sets it up (not through a handler)."""
        row = SimpleNamespace(**values)
        self.rows[row.id] = row
        return row

    async def get(self, ref: str) -> SimpleNamespace | None:
        found = next((r for r in self.rows.values() if ref in (r.id, r.number)), None)
        return copy.deepcopy(found)

    async def holding_orders(self, incident_ids: list[str]) -> set[str]:
        return {r.incident_id for r in self.rows.values()} & set(incident_ids)

    async def add_new(self, rows: list[dict[str, Any]]) -> set[str]:
        known = {r.incident_id for r in self.rows.values()}
        added = {values["incident_id"] for values in rows if values["incident_id"] not in known}
        for values in rows:
            if values["incident_id"] in added:
                self.put(**values)
        return added

    async def save(self, row: Any, values: dict[str, Any]) -> None:
        stored = self.rows.get(row.id)
        if stored is None or stored.version != row.version:
            raise StaleOrder(f"工单已被他人更新：{row.number}（第 {row.version} 版），请核对后重试")
        vars(stored).update(copy.deepcopy(values))
        for key, value in values.items():
            setattr(row, key, value)

    async def set_attachments(self, row: Any, attachments: list[dict[str, Any]]) -> None:
        self.rows[row.id].attachments = list(attachments)
        row.attachments = attachments

    async def add_duplicates(self, *, order_id: str | None = None, number: str | None = None, count: int = 1) -> None:
        for r in self.rows.values():
            if (order_id is not None and r.id == order_id) or (order_id is None and r.number == number):
                r.duplicate_count += count


class FakeSurges:
    """The detector's counts: a batch's own counts are its totals (no history, so no warning below the bar).
    `reads` counts the history and warning reads, which a key below its bar must not cost."""

    def __init__(self) -> None:
        self.counts: dict[Any, int] = {}
        self.warnings: dict[Any, dict[str, Any]] = {}
        self.reads = 0

    async def bump(self, counts: dict[Any, int]) -> dict[Any, int]:
        for key, n in counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        return {key: self.counts[key] for key in counts}

    async def histories(self, keys: Iterable[Any], *, windows: int, step: Any) -> dict[Any, list[int]]:
        self.reads += 1
        return {key: [0] * windows for key in keys}

    async def warned(self, keys: Iterable[Any]) -> set[Any]:
        self.reads += 1
        return {key for key in keys if key in self.warnings}

    async def add_warning(self, values: dict[str, Any]) -> bool:
        key = (values["window_start"], values["area_code"], values["category_group"])
        if key in self.warnings:
            return False
        self.warnings[key] = values
        return True


class FakeAccounts:
    """Accounts by id; the audit rows are staged on the unit of work as the SQL repository stages them."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.rows: dict[str, Any] = {}

    async def get(self, account_id: str, *, for_update: bool = False) -> Any:
        return self.rows.get(account_id)

    async def by_login(self, login: str) -> Any:
        return next((r for r in self.rows.values() if r.login == login), None)

    def add(self, row: Any) -> None:
        self.rows[row.id] = row

    def audit(self, **values: Any) -> None:
        audit(self.uow, **values)  # type: ignore[arg-type]


class FakeDispatchUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__(source="/mcc/dispatch")
        self.orders = FakeOrders()
        self.surges = FakeSurges()
        self.accounts = FakeAccounts(self)
