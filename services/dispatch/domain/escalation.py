"""Escalation chains (提级): what the timers do when a deadline passes. Pure and deterministic.

A chain is a list of steps, evaluated in order for the deadline that has passed:

    - id: sign-overdue              # names the step in the order's log
      on: sign_overdue              # or handle_overdue
      from: [town, county]          # the holder's tier (a department counts in its tier); default: all
      after: 0h                     # how long past the deadline
      action: escalate              # escalate (to: next_tier) | urge (催办) | supervise (督办)
      repeat: false                 # true: again every `every` while the same deadline stays overdue
      new_deadline: {sign: 2h, handle: 3wd}   # for the new holder; a clock left out keeps its deadline

Escalation moves the order one tier up (town → county → city; a department → its tier's centre) with an
`escalated` event, the reason and new deadlines; the new holder must sign for it. The city is the top: there
an `escalate` step becomes `supervise` (督办: the order is marked supervised and a `supervised` event goes
out; it stays with its holder). Nothing escalates while the clock is paused (return awaiting arbitration) or
while an extension request awaits its answer: the unit asked in time, and the upper tier's delay is not its
fault.

Idempotence: a step taken is logged on the order with the deadline it was taken for (`Order.steps`). A step
that is not `repeat` is taken once per deadline; an escalation sets new deadlines, so the next tier gets its
own chance to miss them. The timer calls `next_step` whenever it fires (or a sweeper runs); a duplicate
firing finds the step already logged and gets None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.dispatch.domain.lifecycle import (
    Action,
    Actor,
    DeadlineWarning,
    Decision,
    Order,
    OrderState,
    StepMark,
    decide,
)
from services.dispatch.domain.org import OrgTree, Tier
from services.dispatch.domain.sla import Duration, Limits, SlaSettings, WorkCalendar, next_warning


class Trigger(StrEnum):
    SIGN_OVERDUE = "sign_overdue"  # 签收超时
    HANDLE_OVERDUE = "handle_overdue"  # 办理超时


STEP_ACTIONS = (Action.ESCALATE, Action.URGE, Action.SUPERVISE)
_CLOCK_OF = {Trigger.SIGN_OVERDUE: "sign", Trigger.HANDLE_OVERDUE: "handle"}
_LABEL = {Trigger.SIGN_OVERDUE: "签收超时", Trigger.HANDLE_OVERDUE: "办理超时"}


@dataclass(frozen=True)
class EscalationStep:
    id: str
    on: Trigger
    after: Duration = Duration.hours(0)
    action: Action = Action.ESCALATE
    tiers: frozenset[Tier] = frozenset(Tier)
    repeat: bool = False
    every: Duration | None = None
    new_sign: Duration | None = None
    new_handle: Duration | None = None


class EscalationChainError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid escalation chain:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class EscalationChain:
    steps: tuple[EscalationStep, ...]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EscalationChain:
        """A chain from parsed YAML (`steps:`); raises EscalationChainError listing every faulty step."""
        problems: list[str] = []
        steps: list[EscalationStep] = []
        for index, row in enumerate(data.get("steps") or (), start=1):
            where = f"step {index}"
            if not isinstance(row, Mapping):
                problems.append(f"{where}: expected a mapping")
                continue
            try:
                step = _step(row, index)
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            problems += [f"step {step.id}: {p}" for p in _check(step)]
            steps.append(step)
        ids = [s.id for s in steps]
        problems += [f"step id {i!r} appears twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
        if problems:
            raise EscalationChainError(problems)
        return cls(tuple(steps))


def _step(row: Mapping[str, Any], index: int) -> EscalationStep:
    to = row.get("to", "next_tier")
    if to != "next_tier":
        raise ValueError(f"to must be next_tier (the only target), not {to!r}")
    tiers = row.get("from")
    deadline = row.get("new_deadline") or {}
    every = row.get("every")
    return EscalationStep(
        id=str(row.get("id") or f"step-{index}"),
        # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean True.
        on=Trigger(row["on"] if "on" in row else row[True]),
        after=Duration.parse(row.get("after", "0h")),
        action=Action(row.get("action", "escalate")),
        tiers=frozenset(Tier(t) for t in ([tiers] if isinstance(tiers, str) else tiers)) if tiers else frozenset(Tier),
        repeat=bool(row.get("repeat", False)),
        every=Duration.parse(every) if every is not None else None,
        new_sign=Duration.parse(deadline["sign"]) if deadline.get("sign") not in (None, "keep") else None,
        new_handle=Duration.parse(deadline["handle"]) if deadline.get("handle") not in (None, "keep") else None,
    )


def _check(step: EscalationStep) -> list[str]:
    problems = []
    if step.action not in STEP_ACTIONS:
        problems.append(f"action must be escalate, urge or supervise, not {step.action.value}")
    if step.after.amount < 0:
        problems.append("after must not be negative")
    if step.repeat and (step.every is None or step.every.amount <= 0):
        problems.append("a repeating step needs a positive `every`")
    # At the city an escalate step supervises instead, so only the tiers below need new deadlines.
    if step.action is Action.ESCALATE and step.tiers - {Tier.CITY}:
        if step.new_sign is None:
            problems.append("an escalate step needs new_deadline.sign: the new holder must sign for it")
        if step.on is Trigger.HANDLE_OVERDUE and step.new_handle is None:
            problems.append("a handle_overdue escalate step needs new_deadline.handle, or it stays overdue")
    return problems


@dataclass(frozen=True)
class Escalation:
    """The step due on an order: what to do, to whom, why, and the new deadlines (as limits from now)."""

    action: Action  # escalate | urge | supervise
    step: str
    trigger: Trigger
    deadline: datetime  # the deadline that was missed
    to_tier: Tier | None
    to_unit: str | None  # the new holder for escalate; None when the order stays where it is
    reason: str
    new_deadlines: Limits

    def mark(self, now: datetime) -> StepMark:
        return StepMark(self.step, self.deadline, now)


def next_step(order: Order, now: datetime, *, chain: EscalationChain, org: OrgTree,
              calendar: WorkCalendar | None = None) -> Escalation | None:
    """The escalation step due on `order` at `now`, or None (see the module doc for the rules)."""
    calendar = calendar or WorkCalendar()
    if order.state is OrderState.DISPATCHED:
        trigger, deadline = Trigger.SIGN_OVERDUE, order.sign.deadline
    elif order.state in (OrderState.SIGNED, OrderState.IN_PROGRESS) and not order.extension_pending:
        trigger, deadline = Trigger.HANDLE_OVERDUE, order.handle.deadline
    else:
        return None
    if deadline is None or now < deadline or order.unit_code is None or order.unit_code not in org:
        return None
    tier = org.tier_of(order.unit_code)
    for step in chain.steps:
        if step.on is not trigger or tier not in step.tiers:
            continue
        taken = [m.at for m in order.steps if m.step == step.id and m.deadline == deadline]
        if taken:
            if not step.repeat or step.every is None:
                continue
            due = calendar.add(max(taken), step.every)
        else:
            due = calendar.add(deadline, step.after)
        if now >= due:
            return _escalation(order, step, trigger, deadline, org)
    return None


def _escalation(order: Order, step: EscalationStep, trigger: Trigger, deadline: datetime,
                org: OrgTree) -> Escalation:
    holder = org.require(order.unit_code or "")
    missed = f"{_LABEL[trigger]}（期限 {deadline.isoformat()}）"
    limits = Limits(step.new_sign, step.new_handle)
    if step.action is Action.ESCALATE:
        upper = org.upper_tier(holder.code)
        if upper is not None:
            return Escalation(Action.ESCALATE, step.id, trigger, deadline, org.tier_of(upper.code), upper.code,
                              f"{missed}，由{holder.name}提级至{upper.name}", limits)
        return Escalation(Action.SUPERVISE, step.id, trigger, deadline, org.tier_of(holder.code), None,
                          f"{missed}，已在市级，转市级督办", Limits())
    verb = "催办" if step.action is Action.URGE else "督办"
    return Escalation(step.action, step.id, trigger, deadline, org.tier_of(holder.code), None,
                      f"{missed}，{verb}{holder.name}", Limits())


def take_step(order: Order, escalation: Escalation, now: datetime, *, org: OrgTree,
              calendar: WorkCalendar | None = None, settings: SlaSettings | None = None,
              component: str = "escalation") -> Decision:
    """The lifecycle decision for a due step, taken by the system actor (logs the step on the order)."""
    return decide(order, escalation.action, Actor.system(component), now, org=org, calendar=calendar,
                  settings=settings, to_unit=escalation.to_unit, limits=escalation.new_deadlines,
                  reason=escalation.reason, mark=escalation.mark(now))


def due_warning(order: Order, now: datetime, *, yellow_share: float) -> DeadlineWarning | None:
    """The yellow or red warning due on the order's running deadline and not yet given, if any."""
    if order.state is OrderState.DISPATCHED:
        name = "sign"
    elif order.state in (OrderState.SIGNED, OrderState.IN_PROGRESS):
        name = "handle"
    else:
        return None
    clock = getattr(order, name)
    sent = {m.level for m in order.warnings if m.clock == name and m.deadline == clock.deadline}
    level = next_warning(order.assigned_at, clock.deadline, now, yellow_share, sent)
    return DeadlineWarning(name, level) if level is not None else None
