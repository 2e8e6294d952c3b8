"""A unit of work without a database, for handler unit tests (cosmicpython's FakeUnitOfWork).

A service's fake subclasses it and sets its in-memory repositories in `__init__` (they keep their rows across
`async with` blocks, as a database would), under the names the real unit of work gives its SQL ones
(shared/uow.py). Idempotency keys (`idempotency_keys(table)`, shared/idempotency.py) are kept here too, so
a replayed create answers from memory as it would from the table. What a handler emitted, staged and committed is kept for
the test to read: `events` (committed), `staged` rows by table name (committed), `commits`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent
from shared.idempotency import HEADER, IdempotencyConflict, Stored
from shared.outbox import build_event


class FakeUnitOfWork:
    """Behaves as `shared.uow.UnitOfWork` does for a handler: events and staged rows count only once committed,
    and leaving the block without `commit()` drops them (the repositories' own changes are the fake's to keep)."""

    def __init__(self, source: str = "/mcc/test") -> None:
        self.source = source
        self.events: list[CloudEvent[Any]] = []
        self.staged: dict[str, list[dict[str, Any]]] = {}
        self.commits = 0
        self.seen: set[tuple[str, str]] = set()
        self._counters: dict[tuple[str, str], int] = {}
        self._events: list[CloudEvent[Any]] = []
        self._staged: dict[str, list[dict[str, Any]]] = {}
        self.idempotency: dict[str, _FakeIdempotencyKeys] = {}  # by table name; rows kept once committed

    async def __aenter__(self) -> FakeUnitOfWork:
        self._events, self._staged = [], {}
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.rollback()

    async def emit(self, spec: EventSpec, data: BaseModel, *, subject: str | None = None,
                   event_id: str | None = None) -> CloudEvent[Any]:
        event = build_event(spec, data, source=self.source, subject=subject, event_id=event_id)
        self._events.append(event)
        return event

    def stage(self, table: Any, row: dict[str, Any]) -> None:
        self._staged.setdefault(getattr(table, "name", str(table)), []).append(dict(row))

    async def first_delivery(self, *, consumer: str, event_id: str) -> bool:
        return bool(await self.first_deliveries(consumer=consumer, event_ids=[event_id]))

    async def first_deliveries(self, *, consumer: str, event_ids: list[str]) -> set[str]:
        fresh = {e for e in event_ids if (consumer, e) not in self.seen}
        self.seen.update((consumer, e) for e in fresh)
        return fresh

    async def next_number(self, *, prefix: str, day: str, width: int = 6, separator: str = "") -> str:
        return (await self.take_numbers(prefix=prefix, day=day, count=1, width=width, separator=separator))[0]

    async def take_numbers(self, *, prefix: str, day: str, count: int, width: int = 6,
                           separator: str = "") -> list[str]:
        last = self._counters.get((prefix, day), 0)
        self._counters[(prefix, day)] = last + count
        return [f"{prefix}{separator}{day}{separator}{n:0{width}d}" for n in range(last + 1, last + count + 1)]

    def idempotency_keys(self, table: Any) -> _FakeIdempotencyKeys:
        return self.idempotency.setdefault(getattr(table, "name", str(table)), _FakeIdempotencyKeys())

    async def rollback(self) -> None:
        self._events, self._staged = [], {}
        for keys in self.idempotency.values():
            keys.pending = {}

    async def commit(self) -> None:
        for keys in self.idempotency.values():
            keys.rows.update(keys.pending)
            keys.pending = {}
        self.events += self._events
        for table, rows in self._staged.items():
            self.staged.setdefault(table, []).extend(rows)
        self._events, self._staged = [], {}
        self.commits += 1


class _FakeIdempotencyKeys:
    """shared.idempotency.IdempotencyKeys in memory: rows by (scope, key), visible to others once committed."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], SimpleNamespace] = {}
        self.pending: dict[tuple[str, str], SimpleNamespace] = {}

    async def find(self, pairs: Any) -> dict[tuple[str, str], SimpleNamespace]:
        return {pair: self.rows[pair] for pair in pairs if pair in self.rows}

    async def lookup(self, *, scope: str, key: str, fingerprint: str) -> Stored | None:
        row = self.rows.get((scope, key))
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            raise IdempotencyConflict(f"{HEADER} {key!r} was already used for a different request")
        return Stored(row.status_code, row.body, replayed=True)

    async def remember(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.pending[(row["scope"], row["key"])] = SimpleNamespace(**row)
