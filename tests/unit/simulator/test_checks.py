"""The deadline check: a due deadline that never fired, or a warning or escalation taken twice, is a finding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.simulator.checks import deadline_findings

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SLACK = timedelta(seconds=15)


def order(state: str, *, sign: datetime | None = None, handle: datetime | None = None, history=()) -> dict:
    return {"number": "GD1", "state": state, "sign_deadline": sign and sign.isoformat(),
            "handle_deadline": handle and handle.isoformat(), "history": list(history)}


def warn(clock: str, level: str, deadline: datetime) -> dict:
    return {"action": "warn", "actor_kind": "system",
            "details": {"clock": clock, "level": level, "deadline": deadline.isoformat()}}


def escalate(src: str, dst: str) -> dict:
    return {"action": "escalate", "actor_kind": "system", "details": {"from_unit": src, "to_unit": dst}}


def test_an_overdue_sign_deadline_with_its_red_warning_is_fine():
    due = NOW - timedelta(minutes=5)
    assert deadline_findings("a1", order("dispatched", sign=due, history=[warn("sign", "red", due)]), NOW, SLACK) == []


def test_an_overdue_deadline_that_never_fired_is_named():
    due = NOW - timedelta(minutes=5)
    found = deadline_findings("a1", order("dispatched", sign=due), NOW, SLACK)
    assert len(found) == 1 and "a1" in found[0] and "never fired" in found[0]


def test_a_deadline_within_the_slack_is_not_yet_due():
    assert deadline_findings("a1", order("signed", handle=NOW - timedelta(seconds=5)), NOW, SLACK) == []


def test_a_warning_or_an_escalation_fired_twice_is_named():
    due = NOW - timedelta(hours=1)
    history = [warn("sign", "red", due), warn("sign", "red", due), escalate("320612101", "320612"),
               escalate("320612101", "320612")]
    found = deadline_findings("a2", order("signed", handle=NOW + timedelta(hours=5), history=history), NOW, SLACK)
    assert any("warned twice" in f for f in found) and any("escalated twice" in f for f in found)


def test_a_closed_order_has_no_running_deadline():
    assert deadline_findings("a3", order("closed", handle=NOW - timedelta(days=1)), NOW, SLACK) == []
