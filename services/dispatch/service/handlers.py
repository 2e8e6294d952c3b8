"""Dispatch's service layer: each use case is one transaction that changes an order through the domain's
state machine and writes, with it, one audit row and one outbox event per transition."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update

from services.dispatch.adapters import repository
from services.dispatch.adapters.orm import (
    DispositionDay,
    EarlyWarning,
    OrderAccess,
    OrderAudit,
    OrgUnitRow,
    WorkOrder,
    metadata,
)
from services.dispatch.domain.handling_rates import OrderFacts, UnitRates, compute, period_bounds
from services.dispatch.domain.lifecycle import (
    OPEN_STATES,
    Action,
    Actor,
    Decision,
    FollowUp,
    InvalidCommand,
    Order,
    OrderNotVisible,
    OrderState,
    Satisfaction,
    allowed_actions,
    can_act,
    decide,
)
from services.dispatch.domain.org import OrgTree, UnitKind
from services.dispatch.domain.policy import DispatchPolicy
from services.dispatch.domain.sla import CHINA_TZ, Duration, Limits
from services.dispatch.domain.surge import Surge, SurgeSettings, assess
from services.dispatch.domain.timers import due_decisions, next_due
from shared import metrics
from shared.counters import next_number, reserve_numbers
from shared.events.catalog import EARLY_WARNING_RAISED, ORDER_EVENTS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import (
    AppealDisposed,
    EarlyWarningRaised,
    FollowUpRecorded,
    IncidentAccepted,
    OrderChanged,
)
from shared.roles import Role
from shared.uow import UnitOfWork

log = logging.getLogger("mcc.dispatch")

CONSUMER_INCIDENTS = "dispatch-incidents"
CONSUMER_FOLLOWUPS = "dispatch-followups"
CONSUMER_DISPOSITIONS = "dispatch-dispositions"
TOPOLOGY_COUNTER = "topology-version"
AUDIT_TABLE = metadata.tables["order_audit"]
ORDER_TABLE = metadata.tables["work_order"]


class PolicyHolder:
    """The current DispatchPolicy of this process; replaced whole when the topology changes. Consumers wait
    for `ready` so no event is routed before the stored tree is loaded."""

    def __init__(self, policy: DispatchPolicy) -> None:
        self.policy = policy
        self.topology_version = 0
        self.ready = asyncio.Event()
        self.surge = SurgeSettings()


# --- writing transitions ----------------------------------------------------------------------------------


def order_changed(order: WorkOrder, *, action: str, from_state: str | None, actor: str,
                  reason: str | None = None, details: dict[str, Any] | None = None) -> OrderChanged:
    """The event data for a transition the order has just taken."""
    return OrderChanged(
        order_id=order.id, order_number=order.number, incident_id=order.incident_id, action=action,
        from_state=from_state, to_state=order.state, version=order.version, unit_code=order.unit_code,
        tier=order.tier, county_code=order.county_code, town_code=order.town_code,
        category_code=order.category_code, appeal_type=order.appeal_type, channel=order.channel,
        source_ref=order.source_ref, actor=actor, reason=reason, sign_deadline=order.sign_deadline,
        handle_deadline=order.handle_deadline, occurred_at=order.updated_at, details=details or {},
    )


async def record_transition(uow: UnitOfWork, order: WorkOrder, *, event_name: str, action: str,
                            from_state: str | None, actor: str, reason: str | None = None,
                            details: dict[str, Any] | None = None) -> None:
    """One transition = one audit row + one event, in the caller's transaction."""
    details = _jsonable(details or {})
    data = order_changed(order, action=action, from_state=from_state, actor=actor, reason=reason,
                         details=details)
    event = await uow.emit(ORDER_EVENTS[event_name], data, subject=order.id)
    uow.stage(AUDIT_TABLE, {"order_id": order.id, "event_id": event.id, "action": action, "from_state": from_state,
                            "to_state": order.state, "version": order.version, "actor": actor,
                            "unit_code": order.unit_code, "reason": reason, "details": details, "at": event.time})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def apply_decision(uow: UnitOfWork, row: WorkOrder, decision: Decision, policy: DispatchPolicy) -> None:
    """Write a decision to its row (only against the version read) with its audit row and event."""
    values = repository.row_values(row, decision, next_due_at=next_due(decision.order, policy.timer))
    await repository.save(uow.session, row, values)
    await record_transition(uow, row, event_name=decision.event, action=decision.action.value,
                            from_state=decision.from_state.value, actor=decision.actor.subject,
                            reason=decision.reason, details=dict(decision.details))


def count(decision: Decision, row: WorkOrder) -> None:
    """Prometheus counters for a committed transition."""
    action, tier = decision.action, row.tier or "unknown"
    if decision.to_state is OrderState.DISPATCHED and action in (Action.DISPATCH, Action.ROUTE, Action.REASSIGN,
                                                                 Action.ESCALATE, Action.REOPEN):
        metrics.ORDERS_DISPATCHED.labels(tier).inc()
    if action is Action.SIGN:
        metrics.ORDERS_SIGNED.labels(tier, "on_time" if decision.details.get("on_time") else "late").inc()
        if decision.before.assigned_at:
            metrics.ORDER_TIME_TO_SIGN.labels(tier).observe((decision.at - decision.before.assigned_at).total_seconds())
    elif action is Action.CLOSE:
        metrics.ORDERS_CLOSED.labels(tier, "on_time" if decision.details.get("on_time") else "late").inc()
        if row.dispatched_at:
            metrics.ORDER_TIME_TO_CLOSE.labels(tier).observe((decision.at - row.dispatched_at).total_seconds())
    elif action is Action.RETURN:
        metrics.ORDERS_RETURNED.labels(tier).inc()
    elif action is Action.REOPEN:
        metrics.ORDERS_REOPENED.labels(tier).inc()
    elif action is Action.MERGE:
        metrics.ORDERS_MERGED.inc()
    elif action is Action.ESCALATE:
        before = decision.before.tier.value if decision.before.tier else "unknown"
        metrics.ORDERS_ESCALATED.labels(before, tier).inc()


# --- incidents become orders --------------------------------------------------------------------------------


async def handle_incident_accepted(event: CloudEvent[IncidentAccepted], *, uow: UnitOfWork,
                                   holder: PolicyHolder) -> None:
    """Turn a located incident into a work order sent to the unit that owns it (or a county queue)."""
    await handle_incidents_accepted([event], uow=uow, holder=holder)


async def handle_incidents_accepted(events: Sequence[CloudEvent[IncidentAccepted]], *, uow: UnitOfWork,
                                    holder: PolicyHolder) -> None:
    """Turn a batch of located incidents into work orders in one transaction (each once, whatever NATS
    redelivers: the inbox holds event ids, the unique incident id holds republished incidents)."""
    policy = holder.policy
    decisions: list[tuple[Decision, Any]] = []
    surges: list[Surge] = []
    async with uow:
        first = await uow.first_deliveries(consumer=CONSUMER_INCIDENTS, event_ids=[e.id for e in events])
        fresh: dict[str, IncidentAccepted] = {}
        for event in events:
            if event.id in first:
                fresh.setdefault(event.data.incident_id, event.data)
        if fresh:
            known = set((await uow.session.execute(
                select(WorkOrder.incident_id).where(WorkOrder.incident_id.in_(list(fresh))))).scalars())
            incidents = [i for incident_id, i in fresh.items() if incident_id not in known]
            now = utcnow()
            numbers = await reserve_numbers(uow.session, metadata.tables["counter"], prefix="GD",
                                            day=now.strftime("%Y%m%d"), count=len(incidents))
            rows = []
            for incident, number in zip(incidents, numbers, strict=True):
                row, decision = _new_order(incident, number, now, policy)
                rows.append(row)
                decisions.append((decision, SimpleNamespace(**row)))
            if rows:
                await uow.session.execute(ORDER_TABLE.insert(), rows)
            for decision, row in decisions:
                await record_transition(uow, row, event_name=decision.event, action=decision.action.value,
                                        from_state=None, actor=decision.actor.subject, reason=decision.reason,
                                        details=dict(decision.details))
            surges = await _watch_for_surges(uow, incidents, holder.surge)
        await uow.commit()
    for decision, row in decisions:
        count(decision, row)
    for surge in surges:
        metrics.EARLY_WARNINGS.labels(surge.category_group).inc()


WINDOW = timedelta(hours=1)


async def _watch_for_surges(uow: UnitOfWork, incidents: Sequence[IncidentAccepted],
                            settings: SurgeSettings) -> list[Surge]:
    """Count the incidents per hour, town and category class, and raise an early warning (one per window)
    where a count is far above its baseline."""
    counts: dict[tuple[datetime, str, str], int] = {}
    counties: dict[str, str | None] = {}
    for incident in incidents:
        loc = incident.location
        area = loc.town_code or loc.county_code
        if not area:
            continue
        moment = incident.accepted_at
        window = moment.replace(minute=0, second=0, microsecond=0)
        key = (window, area, incident.category_code[:2])
        counts[key] = counts.get(key, 0) + 1
        counties[area] = loc.county_code
    raised = []
    for (window, area, group), total in (await repository.bump_buckets(uow.session, counts)).items():
        if total < settings.min_count:
            continue
        history = await repository.bucket_history(uow.session, area=area, group=group,
                                                  start=window - WINDOW * settings.history, end=window, step=WINDOW)
        surge = assess(area=area, category_group=group, window_start=window, count=total, history=history,
                       settings=settings)
        if surge is None:
            continue
        alert_id, now = str(uuid.uuid4()), utcnow()
        if await repository.insert_warning(uow.session, {
                "window_start": window, "area_code": area, "category_group": group, "id": alert_id,
                "county_code": counties.get(area), "count": total, "baseline": surge.baseline,
                "p_value": surge.p_value, "reason": surge.reason, "raised_at": now}):
            await uow.emit(EARLY_WARNING_RAISED, EarlyWarningRaised(
                alert_id=alert_id, area_code=area, county_code=counties.get(area), category_group=group,
                window_start=window, window_end=window + WINDOW, count=total, baseline=surge.baseline,
                p_value=surge.p_value, reason=surge.reason, raised_at=now), subject=area)
            raised.append(surge)
    return raised


def _new_order(incident: IncidentAccepted, number: str, now: datetime,
               policy: DispatchPolicy) -> tuple[dict[str, Any], Decision]:
    """A new order's column values, already dispatched (or queued) by the router: inserted once, at version 1.
    Plain values, not ORM objects: a batch of them goes in one multi-row INSERT."""
    loc = incident.location
    routing = policy.route(incident.category_code, loc.village_code, loc.town_code, loc.county_code)
    row: dict[str, Any] = dict.fromkeys(ORDER_TABLE.columns.keys())
    row.update(
        id=str(uuid.uuid4()), number=number, incident_id=incident.incident_id, state=OrderState.ACCEPTED.value,
        version=0, unit_code=routing.unit_code or policy.org.city_code, tier=(routing.tier or "city"),
        county_code=loc.county_code, town_code=loc.town_code, village_code=loc.village_code,
        grid_code=loc.grid_code, category_code=incident.category_code, appeal_type=incident.appeal_type.value,
        urgency=incident.urgency.value, channel=incident.channel.value, source_ref=incident.source_ref,
        title=incident.title, description=incident.description, address=loc.address,
        lon=loc.coordinates.lon if loc.coordinates else None, lat=loc.coordinates.lat if loc.coordinates else None,
        located_by=incident.located_by.value, confidential=incident.confidential,
        caller=incident.caller.model_dump() if incident.caller else None,
        reported_at=incident.reported_at, created_at=now, updated_at=now, lifecycle={}, supervised=False,
        return_count=0, reopen_count=0, escalation_count=0, urge_count=0, duplicate_count=0,
        extension_pending=False,
    )
    limits = policy.limits(place=policy.place(loc.town_code, loc.county_code), appeal_type=row["appeal_type"],
                           category_code=row["category_code"], urgency=row["urgency"])
    action = Action.QUEUE if routing.queue else Action.DISPATCH
    decision = decide(Order(id=row["id"], state=OrderState.ACCEPTED), action, Actor.system("router"), now,
                      org=policy.org, calendar=policy.calendar, settings=policy.sla.settings,
                      to_unit=routing.unit_code, limits=limits, reason=routing.reason)
    row.update(repository.row_values(SimpleNamespace(**row), decision,
                                     next_due_at=next_due(decision.order, policy.timer)))
    return row, decision


# --- people act on orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """What a person asks for: an action and the inputs it may need."""

    action: Action
    reason: str | None = None
    to_unit: str | None = None
    extension: Duration | None = None
    result: str | None = None
    evidence: tuple[str, ...] = ()
    follow_up: FollowUp | None = None
    master: str | None = None
    expected_version: int | None = None


@dataclass
class Outcome:
    row: WorkOrder
    decision: Decision
    allowed: tuple[Action, ...] = field(default=())


async def _load(uow: UnitOfWork, ref: str) -> WorkOrder | None:
    result = await uow.session.execute(select(WorkOrder).where((WorkOrder.id == ref) | (WorkOrder.number == ref)))
    return result.scalar_one_or_none()


def _limits_for(command: Command, row: WorkOrder, policy: DispatchPolicy) -> Limits | None:
    if command.action in (Action.DISPATCH, Action.ROUTE, Action.REOPEN, Action.ESCALATE):
        limits = policy.limits(place=policy.place(row.town_code, row.county_code), appeal_type=row.appeal_type,
                               category_code=row.category_code, urgency=row.urgency)
        # Escalated by hand, the upper tier gets the usual time to sign; the handling deadline stays.
        return Limits(sign=limits.sign) if command.action is Action.ESCALATE else limits
    return None


async def take_action(*, uow: UnitOfWork, holder: PolicyHolder, actor: Actor, order_ref: str,
                      command: Command) -> Outcome:
    """Take one lifecycle action on an order for a person (404 outside their scope, 409 when not allowed)."""
    policy = holder.policy
    now = utcnow()
    async with uow:
        row = await _load(uow, order_ref)
        if row is None or not can_act(actor.role, actor.unit_code, row.unit_code, policy.org):
            raise OrderNotVisible(f"no work order {order_ref}")
        if command.expected_version is not None and command.expected_version != row.version:
            raise repository.StaleOrder(f"order {row.number} is at version {row.version}, not "
                                        f"{command.expected_version}")
        master_row = await _load(uow, command.master) if command.master else None
        if command.master and master_row is None:
            raise InvalidCommand(f"no master order {command.master}")
        decision = decide(
            repository.to_domain(row), command.action, actor, now, org=policy.org, calendar=policy.calendar,
            settings=policy.sla.settings, to_unit=command.to_unit, limits=_limits_for(command, row, policy),
            reason=command.reason, extension=command.extension, result=command.result,
            evidence=command.evidence, follow_up=command.follow_up,
            master=repository.to_domain(master_row) if master_row is not None else None)
        await apply_decision(uow, row, decision, policy)
        if decision.action is Action.MERGE and master_row is not None:
            await uow.session.execute(update(WorkOrder).where(WorkOrder.id == master_row.id)
                                      .values(duplicate_count=WorkOrder.duplicate_count + 1))
        await uow.commit()
    count(decision, row)
    return Outcome(row, decision, allowed_actions(decision.order, actor=actor, org=policy.org))


async def handle_follow_up(event: CloudEvent[FollowUpRecorded], *, uow: UnitOfWork, holder: PolicyHolder) -> None:
    """A 回访 result: record it on the closed order, then archive it or, when the caller is dissatisfied and
    the unit was at fault, reopen it (重办)."""
    data, policy = event.data, holder.policy
    now = utcnow()
    decisions: list[Decision] = []
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_FOLLOWUPS, event_id=event.id):
            return
        row = await _load(uow, data.order_id)
        if row is None or row.state != OrderState.CLOSED.value:
            log.warning("follow-up for an order that is not awaiting one: ignored",
                        extra={"order_id": data.order_id, "state": row.state if row else None})
            await uow.commit()
            return
        if not data.reached or data.satisfaction is None:
            if data.outcome == "archive":  # unreachable after the hotline's last attempt: archive unrated
                decision = decide(repository.to_domain(row), Action.ARCHIVE, Actor.system("followup"), now,
                                  org=policy.org, reason="多次回访联系不上，归档 (caller unreachable)",
                                  calendar=policy.calendar, settings=policy.sla.settings)
                await apply_decision(uow, row, decision, policy)
                decisions.append(decision)
            await uow.commit()  # otherwise the hotline calls again; nothing changes here
            for d in decisions:
                count(d, row)
            return
        operator = Actor(f"operator:{data.operator}", Role.OPERATOR)
        follow_up = FollowUp(Satisfaction(data.satisfaction), data.resolved, data.unit_at_fault)
        order = repository.to_domain(row)
        decision = decide(order, Action.FOLLOW_UP, operator, now, org=policy.org, follow_up=follow_up,
                          reason=data.comment, calendar=policy.calendar, settings=policy.sla.settings)
        await apply_decision(uow, row, decision, policy)
        decisions.append(decision)
        reopen = follow_up.satisfaction is Satisfaction.DISSATISFIED and follow_up.unit_at_fault is True
        if reopen:
            limits = policy.limits(place=policy.place(row.town_code, row.county_code), appeal_type=row.appeal_type,
                                   category_code=row.category_code, urgency=row.urgency)
            decision = decide(decision.order, Action.REOPEN, operator, now, org=policy.org, limits=limits,
                              reason="群众不满意且承办单位有责，重办", calendar=policy.calendar,
                              settings=policy.sla.settings)
        else:
            decision = decide(decision.order, Action.ARCHIVE, Actor.system("followup"), now, org=policy.org,
                              reason="回访完成，归档", calendar=policy.calendar, settings=policy.sla.settings)
        await apply_decision(uow, row, decision, policy)
        decisions.append(decision)
        await uow.commit()
    for d in decisions:
        count(d, row)


async def handle_appeal_disposed(event: CloudEvent[AppealDisposed], *, uow: UnitOfWork) -> None:
    """Count a hotline appeal's disposition for the rates; a linked duplicate adds to its order's count."""
    data = event.data
    day = data.occurred_at.astimezone(CHINA_TZ).date().isoformat()
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_DISPOSITIONS, event_id=event.id):
            return
        await repository.add_to_day_count(uow.session, day=day, disposition=data.disposition.value,
                                          county_code=data.county_code or "")
        if data.disposition.value == "linked" and data.linked_order_number:
            await uow.session.execute(update(WorkOrder).where(WorkOrder.number == data.linked_order_number)
                                      .values(duplicate_count=WorkOrder.duplicate_count + 1))
        await uow.commit()


# --- timers -------------------------------------------------------------------------------------------------


async def fire_due_timers(*, uow: UnitOfWork, holder: PolicyHolder, now: datetime | None = None,
                          batch: int = 200) -> int:
    """Take every warning and escalation step due on up to `batch` overdue orders; the number of transitions.

    Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL), so several dispatch processes share the work
    without waiting on each other; SQLite serialises writers. Each write is conditional on the version read,
    and what is due is computed from the order's own log, so a duplicate or stale firing does nothing.
    """
    policy = holder.policy
    now = now or utcnow()
    fired: list[tuple[Decision, WorkOrder]] = []
    async with uow:
        query = (select(WorkOrder).where(WorkOrder.next_due_at <= now).order_by(WorkOrder.next_due_at)
                 .limit(batch).with_for_update(skip_locked=True))
        rows = list((await uow.session.execute(query)).scalars())
        for row in rows:
            order = repository.to_domain(row)
            decisions = due_decisions(order, now, policy.timer)
            if not decisions:  # nothing due after all (policy changed, clock paused): just reschedule
                await repository.save(uow.session, row, {"next_due_at": next_due(order, policy.timer),
                                                         "version": row.version})
                continue
            for decision in decisions:
                await apply_decision(uow, row, decision, policy)
                fired.append((decision, row))
        await uow.commit()
    for decision, row in fired:
        count(decision, row)
    return len(fired)


async def reschedule_all(*, uow: UnitOfWork, holder: PolicyHolder, batch: int = 1000) -> int:
    """Recompute next_due_at of every open order (after the escalation chain or SLA settings changed)."""
    policy, changed = holder.policy, 0
    async with uow:
        rows = (await uow.session.execute(select(WorkOrder).where(
            WorkOrder.state.in_([s.value for s in OPEN_STATES])))).scalars()
        for row in rows:
            due = next_due(repository.to_domain(row), policy.timer)
            if due != row.next_due_at:
                await repository.save(uow.session, row, {"next_due_at": due, "version": row.version})
                changed += 1
        await uow.commit()
    return changed


async def refresh_gauges(*, uow: UnitOfWork, now: datetime | None = None) -> None:
    """Open and overdue orders per county and town, for Prometheus."""
    now = now or utcnow()
    open_states = [s.value for s in OPEN_STATES]
    overdue = QUEUE_VIEWS["overdue"](now)
    async with uow:
        rows = (await uow.session.execute(
            select(WorkOrder.county_code, WorkOrder.town_code, func.count(), func.sum(case((overdue, 1), else_=0)))
            .where(WorkOrder.state.in_(open_states)).group_by(WorkOrder.county_code, WorkOrder.town_code))).all()
    metrics.ORDERS_OPEN.clear()
    metrics.ORDERS_OVERDUE.clear()
    for county, town, total, late in rows:
        metrics.ORDERS_OPEN.labels(county or "", town or "").set(total)
        metrics.ORDERS_OVERDUE.labels(county or "", town or "").set(late or 0)


# --- reading ------------------------------------------------------------------------------------------------


def scope_filter(actor: Actor, org: OrgTree) -> Any:
    """The SQL condition for the orders an actor may see (None: all of them)."""
    role = actor.role
    if role in (Role.CITY, Role.OPERATOR, "system"):
        return None
    unit = org.get(actor.unit_code)
    if unit is None or role == Role.ADMIN:
        return WorkOrder.id.is_(None)  # nothing
    if role in (Role.TOWN, Role.DEPARTMENT):
        return WorkOrder.unit_code == unit.code
    if role == Role.COUNTY and unit.kind is UnitKind.COUNTY:
        codes = [unit.code] + [u.code for u in org if org.is_dispatch_target(u.code) and org.is_within(u.code, unit.code)]
        return WorkOrder.unit_code.in_(sorted(set(codes)))
    return WorkOrder.id.is_(None)


async def _log_access(uow: UnitOfWork, actor: Actor, rows: Sequence[WorkOrder], view: str) -> None:
    now = utcnow()
    uow.session.add_all([OrderAccess(order_id=r.id, order_number=r.number, subject=actor.subject,
                                     role=str(actor.role), unit_code=actor.unit_code, view=view, at=now)
                         for r in rows])


async def read_order(*, uow: UnitOfWork, holder: PolicyHolder, actor: Actor, order_ref: str,
                     view: str = "detail") -> tuple[WorkOrder, list[OrderAudit] | None, tuple[Action, ...]]:
    """An order (and for view=history its audit trail) for someone allowed to see it; the read is logged."""
    policy = holder.policy
    async with uow:
        row = await _load(uow, order_ref)
        if row is None or not can_act(actor.role, actor.unit_code, row.unit_code, policy.org):
            raise OrderNotVisible(f"no work order {order_ref}")
        history = None
        if view == "history":
            history = list((await uow.session.execute(
                select(OrderAudit).where(OrderAudit.order_id == row.id).order_by(OrderAudit.id))).scalars())
        await _log_access(uow, actor, [row], view)
        await uow.commit()
    return row, history, allowed_actions(repository.to_domain(row), actor=actor, org=policy.org)


QUEUE_VIEWS: dict[str, Callable[[datetime], Any]] = {
    "open": lambda now: WorkOrder.state.in_([s.value for s in OPEN_STATES]),
    "awaiting_sign": lambda now: WorkOrder.state == OrderState.DISPATCHED.value,
    "in_progress": lambda now: WorkOrder.state.in_([OrderState.SIGNED.value, OrderState.IN_PROGRESS.value]),
    "queued": lambda now: WorkOrder.state == OrderState.QUEUED.value,
    "return_requested": lambda now: WorkOrder.state == OrderState.RETURN_REQUESTED.value,
    "overdue": lambda now: (WorkOrder.state.in_([s.value for s in OPEN_STATES])
                            & or_((WorkOrder.state == OrderState.DISPATCHED.value) & (WorkOrder.sign_deadline < now),
                                  WorkOrder.state.in_([OrderState.SIGNED.value, OrderState.IN_PROGRESS.value])
                                  & (WorkOrder.handle_deadline < now))),
    "closed": lambda now: WorkOrder.state == OrderState.CLOSED.value,
    "all": lambda now: None,
}


@dataclass(frozen=True)
class QueueFilter:
    view: str = "open"
    unit_code: str | None = None
    county_code: str | None = None
    town_code: str | None = None
    category_code: str | None = None
    urgency: str | None = None
    supervised: bool | None = None
    incident_id: str | None = None
    source_ref: str | None = None
    limit: int = 50
    offset: int = 0


async def list_orders(*, uow: UnitOfWork, holder: PolicyHolder, actor: Actor,
                      filters: QueueFilter) -> tuple[list[WorkOrder], int]:
    """A page of the orders an actor may see, by view and filters, most urgent deadline first; and the total."""
    now = utcnow()
    conditions = [c for c in (scope_filter(actor, holder.policy.org), QUEUE_VIEWS[filters.view](now)) if c is not None]
    for column, value in ((WorkOrder.unit_code, filters.unit_code), (WorkOrder.county_code, filters.county_code),
                          (WorkOrder.town_code, filters.town_code), (WorkOrder.urgency, filters.urgency),
                          (WorkOrder.supervised, filters.supervised), (WorkOrder.incident_id, filters.incident_id),
                          (WorkOrder.source_ref, filters.source_ref)):
        if value is not None:
            conditions.append(column == value)
    if filters.category_code:
        conditions.append(WorkOrder.category_code.startswith(filters.category_code))
    due = func.coalesce(WorkOrder.sign_deadline, WorkOrder.handle_deadline)
    async with uow:
        total = (await uow.session.execute(select(func.count()).select_from(WorkOrder).where(*conditions))).scalar_one()
        rows = list((await uow.session.execute(
            select(WorkOrder).where(*conditions).order_by(due.is_(None), due, WorkOrder.created_at, WorkOrder.id)
            .limit(filters.limit).offset(filters.offset))).scalars())
        await _log_access(uow, actor, rows, "list")
        await uow.commit()
    return rows, total


async def access_log(*, uow: UnitOfWork, order_ref: str | None = None, subject: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int = 100, offset: int = 0) -> list[OrderAccess]:
    """Who read which order when, newest first (for the city)."""
    query = select(OrderAccess).order_by(OrderAccess.at.desc(), OrderAccess.id.desc()).limit(limit).offset(offset)
    if order_ref:
        query = query.where((OrderAccess.order_id == order_ref) | (OrderAccess.order_number == order_ref))
    if subject:
        query = query.where(OrderAccess.subject == subject)
    if since:
        query = query.where(OrderAccess.at >= since)
    if until:
        query = query.where(OrderAccess.at < until)
    async with uow:
        return list((await uow.session.execute(query)).scalars())


async def prune_access_log(*, uow: UnitOfWork, older_than_days: int) -> int:
    """Delete order-read records past their retention; returns how many."""
    async with uow:
        result = await uow.session.execute(delete(OrderAccess).where(
            OrderAccess.at < utcnow() - timedelta(days=older_than_days)))
        await uow.commit()
    return result.rowcount or 0


# --- rates and alerts ---------------------------------------------------------------------------------------

TIER_KINDS = {"town": (UnitKind.TOWN,), "county": (UnitKind.COUNTY,), "department": (UnitKind.DEPARTMENT,),
              "city": (UnitKind.CITY,)}


async def handling_rates(*, uow: UnitOfWork, holder: PolicyHolder, tier: str, label: str,
                         units: Sequence[str] | None = None) -> list[UnitRates]:
    """The rates of every unit of a tier (or the given units) over a period label (2026-11, 2026-W48,
    2026-11-23), computed from the orders table: the record of truth."""
    org = holder.policy.org
    start, end = period_bounds(label)
    codes = list(units) if units else sorted(u.code for u in org if u.kind in TIER_KINDS[tier])
    async with uow:
        rows = (await uow.session.execute(select(
            WorkOrder.first_unit_code, WorkOrder.dispatched_at, WorkOrder.signed_on_time, WorkOrder.closed_on_time,
            WorkOrder.return_count, WorkOrder.reopen_count, WorkOrder.escalation_count, WorkOrder.satisfaction,
            WorkOrder.resolved).where(WorkOrder.dispatched_at >= start, WorkOrder.dispatched_at < end,
                                      WorkOrder.first_unit_code.is_not(None)))).all()
        days = (start.astimezone(CHINA_TZ).date().isoformat(), end.astimezone(CHINA_TZ).date().isoformat())
        dispositions = (await uow.session.execute(select(
            DispositionDay.county_code, DispositionDay.disposition, func.sum(DispositionDay.count))
            .where(DispositionDay.day >= days[0], DispositionDay.day < days[1])
            .group_by(DispositionDay.county_code, DispositionDay.disposition))).all()
    facts = [OrderFacts(first_unit=r[0], dispatched_at=r[1], signed_on_time=r[2], closed=r[3] is not None,
                        closed_on_time=r[3], returned=r[4] > 0, reopened=r[5] > 0, escalated=r[6] > 0,
                        satisfaction=r[7], resolved=r[8]) for r in rows]
    out = []
    for code in codes:
        unit = org.get(code)
        if unit is None:
            continue
        nested = unit.kind in (UnitKind.COUNTY, UnitKind.CITY)
        mine = [f for f in facts if (org.is_within(f.first_unit, code) if nested else f.first_unit == code)]
        direct = None
        if nested:
            picked = [(d, n) for county, d, n in dispositions if unit.kind is UnitKind.CITY or county == code]
            direct = (sum(n for d, n in picked if d == "answered"), sum(n for _, n in picked))
        out.append(compute(mine, unit=code, direct_answers=direct))
    return out


async def list_alerts(*, uow: UnitOfWork, since: datetime | None = None, area: str | None = None,
                      county: str | None = None, limit: int = 100) -> list[EarlyWarning]:
    """Early warnings, newest first."""
    query = select(EarlyWarning).order_by(EarlyWarning.raised_at.desc()).limit(limit)
    if since:
        query = query.where(EarlyWarning.raised_at >= since)
    if area:
        query = query.where(EarlyWarning.area_code == area)
    if county:
        query = query.where(EarlyWarning.county_code == county)
    async with uow:
        return list((await uow.session.execute(query)).scalars())


# --- topology -----------------------------------------------------------------------------------------------


async def load_org(*, uow: UnitOfWork) -> tuple[OrgTree | None, int]:
    """The stored tree (None when the table is empty) and the topology version."""
    counter = metadata.tables["counter"]
    async with uow:
        units = list((await uow.session.execute(select(OrgUnitRow))).scalars())
        version = (await uow.session.execute(select(counter.c.value).where(counter.c.name == TOPOLOGY_COUNTER))
                   ).scalar_one_or_none() or 0
    return (OrgTree.from_units(units) if units else None), version


async def replace_units(*, uow: UnitOfWork, units: Sequence[Any], replace_all: bool) -> OrgTree:
    """Store units (all of them, or upserts) after validating the resulting tree; OrgTreeError otherwise."""
    now = utcnow()
    async with uow:
        current = {} if replace_all else {u.code: u for u in (await uow.session.execute(select(OrgUnitRow))).scalars()}
        merged = dict(current)
        for unit in units:
            merged[unit.code] = unit
        tree = OrgTree.from_units(merged.values())  # raises before anything is written
        if replace_all:
            await uow.session.execute(OrgUnitRow.__table__.delete())  # type: ignore[attr-defined]
        for unit in units:
            await uow.session.merge(OrgUnitRow(code=unit.code, name=unit.name, kind=str(unit.kind),
                                               parent_code=unit.parent_code, function=getattr(unit, "function", None),
                                               updated_at=now))
        await next_number(uow.session, metadata.tables["counter"], prefix=TOPOLOGY_COUNTER, day="", width=1)
        await uow.commit()
    return tree


async def delete_unit(*, uow: UnitOfWork, code: str) -> OrgTree:
    """Remove a unit that has no children and holds no open order."""
    async with uow:
        rows = {u.code: u for u in (await uow.session.execute(select(OrgUnitRow))).scalars()}
        if code not in rows:
            raise KeyError(code)
        held = (await uow.session.execute(select(func.count()).select_from(WorkOrder).where(
            WorkOrder.unit_code == code, WorkOrder.state.in_([s.value for s in OPEN_STATES])))).scalar_one()
        if held:
            raise ValueError(f"unit {code} holds {held} open orders: reassign them first")
        rest = [u for c, u in rows.items() if c != code]
        tree = OrgTree.from_units(rest)
        await uow.session.delete(rows[code])
        await next_number(uow.session, metadata.tables["counter"], prefix=TOPOLOGY_COUNTER, day="", width=1)
        await uow.commit()
    return tree
