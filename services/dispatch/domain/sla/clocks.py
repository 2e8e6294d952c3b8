"""Pausable clocks and their deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.dispatch.domain.sla.policy import (
    Limits,
)
from services.dispatch.domain.sla.workdays import (
    Duration,
    TimeUnit,
    WorkCalendar,
)


@dataclass(frozen=True)
class Clock:
    """One deadline. While paused (awaiting arbitration) it has no deadline, only the time left, frozen in
    the unit the limit was set in, so a pause over a weekend costs no working time."""

    deadline: datetime | None = None
    unit: TimeUnit = TimeUnit.HOURS
    remaining: Duration | None = None

    @classmethod
    def start(cls, now: datetime, limit: Duration | None, calendar: WorkCalendar) -> Clock:
        """A running clock that ends `limit` after `now`; a stopped one for no limit."""
        if limit is None:
            return cls()
        return cls(calendar.add(now, limit), limit.unit)

    @property
    def paused(self) -> bool:
        return self.remaining is not None

    @property
    def running(self) -> bool:
        return self.deadline is not None

    def pause(self, now: datetime, calendar: WorkCalendar) -> Clock:
        """The clock frozen at `now` (a stopped or paused clock stays as it is)."""
        if self.deadline is None:
            return self
        return Clock(None, self.unit, calendar.measure(now, self.deadline, self.unit))

    def resume(self, now: datetime, calendar: WorkCalendar) -> Clock:
        """The clock running again from `now` with the time it had left."""
        if self.remaining is None:
            return self
        return Clock(calendar.add(now, self.remaining), self.unit)

    def extend(self, by: Duration, calendar: WorkCalendar) -> Clock:
        """The deadline moved later by `by` (an approved 延期); only a running clock has one to move."""
        if self.deadline is None:
            raise ValueError("only a running clock can be extended")
        return Clock(calendar.add(self.deadline, by), self.unit)

    def overdue(self, now: datetime) -> bool:
        return self.deadline is not None and now >= self.deadline


def deadlines(start: datetime, limits: Limits, calendar: WorkCalendar) -> tuple[datetime | None, datetime | None]:
    """The sign-for and handling deadlines for an order dispatched at `start`."""
    sign = calendar.add(start, limits.sign) if limits.sign else None
    handle = calendar.add(start, limits.handle) if limits.handle else None
    return sign, handle
