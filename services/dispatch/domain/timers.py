"""When an order next needs the timer, and what the timer does then. Pure.

The order row stores `next_due_at`, the earliest instant at which a warning (yellow, red) or an escalation
step becomes due. A poller claims rows whose `next_due_at` has passed, asks `due_decisions` what is due now,
applies those decisions and stores the new `next_due_at`. Because every decision is computed from the
order's own state (the steps and warnings already logged on it), a duplicate or late firing finds nothing
due and changes nothing: the timer needs no memory of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.dispatch.domain.escalation import EscalationChain, due_warning, next_step, take_step
from services.dispatch.domain.lifecycle import Action, Actor, Decision, Order, OrderState, decide
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.sla import SlaSettings, WarningLevel, WorkCalendar, warning_due

TIMER = "timer"
_MAX_STEPS_PER_FIRING = 8  # a firing after a long outage may owe a warning and a step; never loop forever


@dataclass(frozen=True)
class TimerPolicy:
    """What the timer needs besides the order: the tree, the chain, the calendar and the SLA settings."""

    org: OrgTree
    chain: EscalationChain
    calendar: WorkCalendar
    settings: SlaSettings


def _running_clock(order: Order) -> tuple[str, datetime | None] | None:
    if order.state is OrderState.DISPATCHED:
        return "sign", order.sign.deadline
    if order.state in (OrderState.SIGNED, OrderState.IN_PROGRESS):
        return "handle", order.handle.deadline
    return None


def next_due(order: Order, policy: TimerPolicy) -> datetime | None:
    """The earliest instant at which a warning or an escalation step falls due on this order, if any."""
    running = _running_clock(order)
    if running is None or running[1] is None:
        return None
    name, deadline = running
    candidates: list[datetime] = []
    sent = {m.level for m in order.warnings if m.clock == name and m.deadline == deadline}
    if WarningLevel.RED not in sent:
        candidates.append(deadline)
        if WarningLevel.YELLOW not in sent and order.assigned_at is not None and order.assigned_at < deadline:
            candidates.append(warning_due(order.assigned_at, deadline, policy.settings.yellow_share))
    if not (name == "handle" and order.extension_pending) and order.unit_code in policy.org:
        trigger = "sign_overdue" if name == "sign" else "handle_overdue"
        tier = policy.org.tier_of(order.unit_code or "")
        for step in policy.chain.steps:
            if step.on.value != trigger or tier not in step.tiers:
                continue
            taken = [m.at for m in order.steps if m.step == step.id and m.deadline == deadline]
            if taken:
                if step.repeat and step.every is not None:
                    candidates.append(policy.calendar.add(max(taken), step.every))
                continue
            candidates.append(policy.calendar.add(deadline, step.after))
    return min(candidates) if candidates else None


def due_decisions(order: Order, now: datetime, policy: TimerPolicy) -> list[Decision]:
    """Everything due on the order at `now`, in order: warnings first, then escalation steps."""
    decisions: list[Decision] = []
    for _ in range(_MAX_STEPS_PER_FIRING):
        warning = due_warning(order, now, yellow_share=policy.settings.yellow_share)
        if warning is not None:
            decision = decide(order, Action.WARN, Actor.system(TIMER), now, org=policy.org,
                              calendar=policy.calendar, settings=policy.settings, warning=warning,
                              reason=f"{'黄牌' if warning.level is WarningLevel.YELLOW else '红牌'}预警")
        else:
            escalation = next_step(order, now, chain=policy.chain, org=policy.org, calendar=policy.calendar)
            if escalation is None:
                break
            decision = take_step(order, escalation, now, org=policy.org, calendar=policy.calendar,
                                 settings=policy.settings, component=TIMER)
        decisions.append(decision)
        order = decision.order
    return decisions
