"""Orders between the database and the domain: the row's `lifecycle` JSON <-> `lifecycle.Order`, and the
order repository (`uow.orders`), whose writes only succeed against the version that was read."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import DispositionDay, OrderAudit, WorkOrder
from services.dispatch.domain.lifecycle import (
    Decision,
    FollowUp,
    Order,
    OrderState,
    StepMark,
    WarningMark,
)
from services.dispatch.domain.org import Tier
from services.dispatch.domain.sla import Clock, Duration, TimeUnit, WarningLevel
from shared.db import one_of, upsert_insert
from shared.errors import Conflict


class StaleOrder(Conflict):
    """The order changed since it was read (another dispatcher, another timer): nothing was written (409,
    marked `stale` so a client knows to read the order again and retry)."""

    code = "stale_order"

    def content(self) -> dict[str, Any]:
        return {**super().content(), "stale": True}


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _duration(value: dict[str, Any] | None) -> Duration | None:
    return Duration(value["amount"], TimeUnit(value["unit"])) if value else None


def _dur(value: Duration | None) -> dict[str, Any] | None:
    return {"amount": value.amount, "unit": value.unit.value} if value else None


def _clock(value: dict[str, Any] | None) -> Clock:
    if not value:
        return Clock()
    return Clock(_dt(value.get("deadline")), TimeUnit(value.get("unit", "hours")), _duration(value.get("remaining")))


def _clk(clock: Clock) -> dict[str, Any]:
    return {"deadline": _iso(clock.deadline), "unit": clock.unit.value, "remaining": _dur(clock.remaining)}


def encode(order: Order) -> dict[str, Any]:
    """The order's lifecycle state as JSON."""
    fu = order.follow_up
    return {
        "assigned_at": _iso(order.assigned_at), "sign": _clk(order.sign), "handle": _clk(order.handle),
        "paused_state": order.paused_state.value if order.paused_state else None,
        "paused_at": _iso(order.paused_at), "extension_requested": _dur(order.extension_requested),
        "extension_granted": order.extension_granted,
        "follow_up": {"satisfaction": fu.satisfaction.value, "resolved": fu.resolved,
                      "unit_at_fault": fu.unit_at_fault} if fu else None,
        "urge_count": order.urge_count, "reopen_count": order.reopen_count,
        "escalation_count": order.escalation_count,
        "steps": [{"step": m.step, "deadline": _iso(m.deadline), "at": _iso(m.at)} for m in order.steps],
        "warnings": [{"clock": w.clock, "level": w.level.value, "deadline": _iso(w.deadline)}
                     for w in order.warnings],
    }


def to_domain(row: WorkOrder) -> Order:
    """The domain order a row holds."""
    lc = row.lifecycle or {}
    fu = lc.get("follow_up")
    return Order(
        id=row.id, state=OrderState(row.state), unit_code=row.unit_code,
        tier=Tier(row.tier) if row.tier else None, assigned_at=_dt(lc.get("assigned_at")),
        sign=_clock(lc.get("sign")), handle=_clock(lc.get("handle")),
        paused_state=OrderState(lc["paused_state"]) if lc.get("paused_state") else None,
        paused_at=_dt(lc.get("paused_at")), extension_requested=_duration(lc.get("extension_requested")),
        extension_granted=float(lc.get("extension_granted", 0.0)),
        follow_up=FollowUp(**fu) if fu else None, merged_into=row.merged_into, supervised=row.supervised,
        urge_count=lc.get("urge_count", 0), reopen_count=lc.get("reopen_count", 0),
        escalation_count=lc.get("escalation_count", 0), signed_at=row.signed_at, closed_at=row.closed_at,
        steps=tuple(StepMark(m["step"], _dt(m["deadline"]), _dt(m["at"])) for m in lc.get("steps", ())),
        warnings=tuple(WarningMark(w["clock"], WarningLevel(w["level"]), _dt(w["deadline"]))
                       for w in lc.get("warnings", ())),
    )


def row_values(row: WorkOrder, decision: Decision, *, next_due_at: datetime | None) -> dict[str, Any]:
    """The column values after a decision: the lifecycle JSON and every mirrored column."""
    order, action = decision.order, decision.action.value
    values: dict[str, Any] = {
        "state": order.state.value, "version": row.version + 1, "unit_code": order.unit_code or row.unit_code,
        "tier": order.tier.value if order.tier else row.tier, "updated_at": decision.at,
        "sign_deadline": order.sign.deadline, "handle_deadline": order.handle.deadline,
        "assigned_at": order.assigned_at, "signed_at": order.signed_at, "closed_at": order.closed_at,
        "merged_into": order.merged_into, "supervised": order.supervised,
        "escalation_count": order.escalation_count, "reopen_count": order.reopen_count,
        "urge_count": order.urge_count, "extension_pending": order.extension_pending,
        "satisfaction": order.follow_up.satisfaction.value if order.follow_up else row.satisfaction,
        "resolved": order.follow_up.resolved if order.follow_up else row.resolved,
        "next_due_at": next_due_at, "lifecycle": encode(order),
    }
    if decision.to_state is OrderState.DISPATCHED and row.dispatched_at is None:
        values["dispatched_at"] = decision.at
        values["first_sign_deadline"] = order.sign.deadline
        values["first_unit_code"] = order.unit_code
    if action == "sign" and row.signed_on_time is None:
        values["signed_on_time"] = bool(decision.details.get("on_time"))
    if action == "close":
        values["closed_on_time"] = bool(decision.details.get("on_time"))
    if action == "return":
        values["return_count"] = row.return_count + 1
    return values


ORDERS = WorkOrder.__table__  # type: ignore[attr-defined]
_ADD_NEW: dict[str, Any] = {}  # add_new's statement per dialect, built once (its cache key is then memoized)
# holding_orders' statement per dialect, built once (its ids bound by shared.db.one_of).
_HOLDING = {dialect: select(ORDERS.c.incident_id).where(one_of(ORDERS.c.incident_id, "ids", dialect))
            for dialect in ("postgresql", "sqlite")}

# What a timer reschedule reads of an open order: to_domain's columns, the version and the current instant.
_TIMING = ("id", "state", "unit_code", "tier", "lifecycle", "merged_into", "supervised", "signed_at", "closed_at",
           "version", "next_due_at")


class OrderRepository:
    """Work orders and their audit trail (`uow.orders`): the one place dispatch's SQL about orders lives."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ref: str) -> WorkOrder | None:
        """The order with this id or number, if any."""
        result = await self.session.execute(select(WorkOrder).where((WorkOrder.id == ref) | (WorkOrder.number == ref)))
        return result.scalar_one_or_none()

    async def holding_orders(self, incident_ids: list[str]) -> set[str]:
        """Which of these incidents already have an order (a redelivered batch, an overlapping county group)."""
        if not incident_ids:
            return set()
        statement = _HOLDING[self.session.get_bind().dialect.name]
        return set((await self.session.execute(statement, {"ids": incident_ids})).scalars())

    async def add_new(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert new orders' column values in one multi-row INSERT, skipping those whose incident already has an
        order (a redelivered or republished incident); the incident ids that got their order now."""
        if not rows:
            return set()
        statement = _ADD_NEW.get(self.session.get_bind().dialect.name)
        if statement is None:
            insert = upsert_insert(self.session)(ORDERS)
            statement = _ADD_NEW.setdefault(self.session.get_bind().dialect.name, insert.on_conflict_do_nothing(
                index_elements=[ORDERS.c.incident_id]).returning(ORDERS.c.incident_id))
        # Sorted by incident: two processes inserting overlapping batches take the index locks in one order.
        # Executemany parameters, sent as one multi-row INSERT (a `.values(rows)` statement is compiled afresh).
        return set((await self.session.execute(statement, sorted(rows, key=lambda r: r["incident_id"]))).scalars())

    async def save(self, row: WorkOrder, values: dict[str, Any]) -> None:
        """Write the new values if the row still has the version that was read; StaleOrder otherwise."""
        result = await self.session.execute(update(ORDERS).where(ORDERS.c.id == row.id, ORDERS.c.version == row.version)
                                            .values(**values))
        if result.rowcount != 1:
            raise StaleOrder(f"工单已被他人更新：{row.number}（第 {row.version} 版），请核对后重试")
        # The row now only describes what was written: detach it so the session never flushes it a second time.
        if row in self.session:
            self.session.expunge(row)
        for key, value in values.items():
            setattr(row, key, value)

    async def save_many(self, writes: list[tuple[str, int, dict[str, Any]]]) -> None:
        """Write many orders' new values, each only if its row still has the version read: one executemany
        UPDATE per set of columns (one round trip each) instead of one UPDATE per order. StaleOrder if any row
        changed meanwhile, where the driver can tell (the caller's transaction then rolls back whole); the
        timer's rows are held FOR UPDATE on PostgreSQL, where the driver cannot."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for order_id, version, values in sorted(writes, key=lambda w: w[0]):  # one lock order for every writer
            groups.setdefault(tuple(sorted(values)), []).append({"b_id": order_id, "b_version": version, **values})
        for params in groups.values():
            result = await self.session.execute(
                update(ORDERS).where(ORDERS.c.id == bindparam("b_id"), ORDERS.c.version == bindparam("b_version")),
                params)
            if self.session.bind.dialect.supports_sane_multi_rowcount and result.rowcount != len(params):
                raise StaleOrder(f"工单已被他人更新：{len(params)} 张中有 {len(params) - result.rowcount} 张，请核对后重试")

    async def set_attachments(self, row: WorkOrder, attachments: list[dict[str, Any]]) -> None:
        """Replace the order's attachments (in the transaction that already moved its version on)."""
        await self.session.execute(update(ORDERS).where(ORDERS.c.id == row.id).values(attachments=attachments))
        row.attachments = attachments  # the answer shows them without another read (the row is detached)

    async def add_duplicates(self, *, order_id: str | None = None, number: str | None = None, count: int = 1) -> None:
        """Count hotline appeals (or merged orders) linked to an order, by its id or its number."""
        where = ORDERS.c.id == order_id if order_id is not None else ORDERS.c.number == number
        await self.session.execute(update(ORDERS).where(where).values(duplicate_count=ORDERS.c.duplicate_count + count))

    async def claim_due(self, *, now: datetime, limit: int) -> list[SimpleNamespace]:
        """Up to `limit` orders whose next timer instant has come, earliest first, claimed FOR UPDATE SKIP LOCKED
        (PostgreSQL: several processes share the work without waiting on each other). Plain rows, not ORM
        objects: nothing needs the identity map, and a batch is cheaper without."""
        query = (select(ORDERS).where(ORDERS.c.next_due_at <= now).order_by(ORDERS.c.next_due_at)
                 .limit(limit).with_for_update(skip_locked=True))
        return [SimpleNamespace(**mapping) for mapping in (await self.session.execute(query)).mappings()]

    async def open_timing(self, *, states: list[str]) -> list[Any]:
        """Every open order's timing columns, as plain rows (no ORM objects: a reschedule reads them all)."""
        query = select(*(ORDERS.c[name] for name in _TIMING)).where(ORDERS.c.state.in_(states))
        return list((await self.session.execute(query)).all())

    async def set_next_due(self, writes: list[tuple[str, int, datetime | None]]) -> None:
        """New timer instants (order id, version read, instant) in one executemany UPDATE; a row whose version
        moved on meanwhile is left alone (its writer computed its instant with the policy it had)."""
        if not writes:
            return
        await self.session.execute(
            update(ORDERS).where(ORDERS.c.id == bindparam("b_id"), ORDERS.c.version == bindparam("b_version"))
            .values(next_due_at=bindparam("b_due", type_=ORDERS.c.next_due_at.type)),
            [{"b_id": i, "b_version": v, "b_due": due} for i, v, due in writes])

    async def history(self, order_id: str) -> list[OrderAudit]:
        """The order's transitions, oldest first."""
        return list((await self.session.execute(
            select(OrderAudit).where(OrderAudit.order_id == order_id).order_by(OrderAudit.id))).scalars())

    async def count_held(self, unit_code: str, *, states: list[str]) -> int:
        """How many orders in these states a unit holds."""
        return (await self.session.execute(select(func.count()).select_from(WorkOrder).where(
            WorkOrder.unit_code == unit_code, WorkOrder.state.in_(states)))).scalar_one()

    async def rate_facts(self, *, start: datetime, end: datetime) -> list[Any]:
        """What the handling rates read of each order first dispatched in [start, end): first unit, dispatched
        at, signed on time, closed on time, returns, reopens, escalations, satisfaction, resolved, first sign
        deadline (in that order)."""
        return list((await self.session.execute(select(
            WorkOrder.first_unit_code, WorkOrder.dispatched_at, WorkOrder.signed_on_time, WorkOrder.closed_on_time,
            WorkOrder.return_count, WorkOrder.reopen_count, WorkOrder.escalation_count, WorkOrder.satisfaction,
            WorkOrder.resolved, WorkOrder.first_sign_deadline).where(
                WorkOrder.dispatched_at >= start, WorkOrder.dispatched_at < end,
                WorkOrder.first_unit_code.is_not(None)))).all())


class DispositionRepository:
    """Hotline appeals counted per (day, disposition, county) (`uow.dispositions`), for the direct-answer rate."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, counts: dict[tuple[str, str, str], int]) -> None:
        """Add to the counts of many (day, disposition, county) keys: one multi-row upsert."""
        if not counts:
            return
        table = DispositionDay.__table__  # type: ignore[attr-defined]
        statement = upsert_insert(self.session)(table)
        # executemany parameters, not `.values([...])`: a multi-values INSERT is compiled afresh on every call.
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=["day", "disposition", "county_code"],
            set_={"count": table.c.count + statement.excluded.count}),
            [{"day": d, "disposition": k, "county_code": c, "count": n} for (d, k, c), n in sorted(counts.items())])

    async def totals(self, *, first_day: str, end_day: str) -> list[tuple[str, str, int]]:
        """(county, disposition, count) summed over the days in [first_day, end_day)."""
        return [(c, d, n) for c, d, n in (await self.session.execute(select(
            DispositionDay.county_code, DispositionDay.disposition, func.sum(DispositionDay.count))
            .where(DispositionDay.day >= first_day, DispositionDay.day < end_day)
            .group_by(DispositionDay.county_code, DispositionDay.disposition))).all()]
