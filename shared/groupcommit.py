"""Group commit: single creates that arrive together share one transaction, each answered only after commit.

Each request joins a queue and waits for a lock; whoever holds the lock writes every request queued so far
in one transaction: stored idempotency keys read in one query, the requests staged (one by one through
`stage_one`, or all at once through `stage_many` for one multi-row INSERT), their keys remembered in one
INSERT, one commit, one outbox relay round. Under load the queue fills while a write is in flight, so groups
grow with the load; a lone request is written at once.

The answers are exactly those of one transaction per request (`shared.idempotency.run_once`): a key already
stored replays its answer, or is an IdempotencyConflict when it came with another request; a key used twice
in one group creates once; a request `stage_many` refuses (an Exception in its place) stores nothing and
fails alone. Should staging raise, or the commit meet an integrity error (another process committed the same
key first), the group's transaction is rolled back and every request of it is redone alone, so one bad
request never fails the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Table

from shared.idempotency import HEADER, IdempotencyConflict, Stored, run_once
from shared.uow import UnitOfWork

P = TypeVar("P")
Answer = tuple[int, Any]  # (status code, JSON-able body): what one request created
StageOne = Callable[[UnitOfWork, P], Awaitable[Answer]]
StageMany = Callable[[UnitOfWork, Sequence[P]], Awaitable[list[Answer | Exception]]]


@dataclass
class _Request(Generic[P]):
    payload: P
    scope: str
    key: str | None
    fingerprint: str
    future: asyncio.Future[Stored] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[P]):
    """Writes concurrent single creates in shared transactions; `submit` answers like `run_once` would.

    `stage_one(uow, payload)` stages one create in the caller's transaction (rows, events; no commit) and
    answers (status, body), raising for a request it refuses. `stage_many(uow, payloads)` may stage a whole
    group at once; it answers one (status, body) or Exception per payload, and a refused payload must leave
    nothing behind. Without `stage_many` the group is staged one payload after another.
    """

    def __init__(self, new_uow: Callable[[], UnitOfWork], table: Table, *, stage_one: StageOne[P],
                 stage_many: StageMany[P] | None = None, max_group: int = 200) -> None:
        self.new_uow, self.table, self.max_group = new_uow, table, max_group
        self.stage_one = stage_one
        self.stage_many: StageMany[P] = stage_many or self._stage_each
        self.groups = 0  # transactions written as groups (for tests and benchmarks)
        self._queue: list[_Request[P]] = []
        self._lock = asyncio.Lock()

    async def submit(self, payload: P, *, scope: str, key: str | None, fingerprint: str) -> Stored:
        """The stored answer of this create, once its transaction committed (a replay when the key was used)."""
        request = _Request(payload, scope, key, fingerprint)
        self._queue.append(request)
        while not request.future.done():
            async with self._lock:
                if not request.future.done():
                    group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
                    # Shielded: a client that goes away must not cancel the write its group is waiting for.
                    await asyncio.shield(self._flush(group))
        return request.future.result()

    async def _flush(self, group: list[_Request[P]]) -> None:
        try:
            answers = await self._write(group)
        except Exception:  # noqa: BLE001 - whatever failed the group, each request gets its own answer alone
            answers = {}
            for n, request in enumerate(group):
                try:
                    answers[n] = await self._write_alone(request)
                except Exception as exc:
                    answers[n] = exc
        for n, request in enumerate(group):
            answer = answers.get(n, RuntimeError("the group write gave no answer for this request"))
            if request.future.done():
                continue
            if isinstance(answer, BaseException):
                request.future.set_exception(answer)
            else:
                request.future.set_result(answer)

    async def _write_alone(self, request: _Request[P]) -> Stored:
        async def create(uow: UnitOfWork) -> Answer:
            return await self.stage_one(uow, request.payload)

        if request.key is None:
            async with self.new_uow() as uow:
                status, body = await create(uow)
                await uow.commit()
            return Stored(status, body, replayed=False)
        return await run_once(self.new_uow, self.table, scope=request.scope, key=request.key,
                              fingerprint=request.fingerprint, create=create)

    async def _stage_each(self, uow: UnitOfWork, payloads: Sequence[P]) -> list[Answer | Exception]:
        # A refusal raised halfway may have left rows behind: raising fails the group, which is redone alone.
        return [await self.stage_one(uow, p) for p in payloads]

    async def _write(self, group: list[_Request[P]]) -> dict[int, Stored | Exception]:
        answers: dict[int, Stored | Exception] = {}
        table = self.table
        async with self.new_uow() as uow:
            keys = uow.idempotency_keys(table)
            stored = await keys.find({(r.scope, r.key) for r in group if r.key is not None})
            first: dict[tuple[str, str], int] = {}
            fresh: list[int] = []
            copies: list[tuple[int, int]] = []
            for n, request in enumerate(group):
                pair = (request.scope, request.key) if request.key is not None else None
                if pair is not None and pair in stored:
                    row = stored[pair]
                    answers[n] = Stored(row.status_code, row.body, replayed=True) \
                        if row.fingerprint == request.fingerprint else conflict(request.key)
                elif pair is not None and pair in first:
                    copies.append((n, first[pair]))
                else:
                    if pair is not None:
                        first[pair] = n
                    fresh.append(n)
            staged = await self.stage_many(uow, [group[n].payload for n in fresh]) if fresh else []
            if len(staged) != len(fresh):
                raise RuntimeError("stage_many must answer once per payload")
            remembered = []
            for n, answer in zip(fresh, staged, strict=True):
                if isinstance(answer, Exception):
                    answers[n] = answer
                    continue
                status, body = answer
                answers[n] = Stored(status, body, replayed=False)
                request = group[n]
                if request.key is not None:
                    remembered.append({"scope": request.scope, "key": request.key,
                                       "fingerprint": request.fingerprint, "status_code": status, "body": body})
            await keys.remember(remembered)
            await uow.commit()
        self.groups += 1
        for n, original in copies:
            answer = answers[original]
            if isinstance(answer, Stored):
                same = group[n].fingerprint == group[original].fingerprint
                answers[n] = Stored(answer.status_code, answer.body, replayed=True) if same \
                    else conflict(group[n].key)
            else:
                answers[n] = answer
        return answers


def conflict(key: str | None) -> IdempotencyConflict:
    return IdempotencyConflict(f"{HEADER} {key!r} was already used for a different request")
