"""Time limits (时限): the SLA policy, the working-day calendar, pausable clocks and deadline warnings.

Policy. A rule names an area (a unit code or `*`), an appeal type, a category code prefix and an urgency (each
may be left open) and sets a sign-for limit (签收时限), a handling limit (办理时限), or both, each in clock hours
(`2h`) or working days (`3wd`). Each limit is taken from the most specific rule that sets it, compared in this
order: a rule for a named urgency beats one without (urgent matters always get the urgent times); then the
longer category prefix; then a named appeal type; then the smaller area (a county's rule beats the city's
`*`). So an area override must be at least as specific in the other respects as the rule it replaces.

Working days. A working day follows the official Chinese holiday schedule (public holidays and the make-up
working weekends, 调休) from the city's holiday file (`shared/holidays.py`, `shared/reference/holidays.yaml`). Time is counted in China Standard Time (UTC+8). N working days from an
instant is the instant at which N × 24 hours of time on working days have passed:
  - started at 10:00 on a working day, 1 working day ends at 10:00 on the next working day;
  - started on a holiday or weekend, counting begins at 00:00 of the next working day, so Saturday 15:00 + 1
    working day ends at the end of Monday (Tuesday 00:00);
  - an end that falls on a day boundary is the earliest such instant (the end of the working day).
Fractions work the same way (0.5wd = 12 hours of working-day time).

Calendar coverage. The State Council publishes next year's schedule each autumn (usually Oct–Dec); the city
puts it in the holiday file. A year marked provisional there (the statutory days only) is counted by it, and
a date past the file is counted Monday–Friday; either way `on_guess(day, "provisional" | "uncovered")` is
told, so the caller logs and counts it (nothing is guessed silently), and `WorkCalendar(strict=True)` raises
CalendarNotCovered for an uncovered date instead. `sla.yaml`'s `calendar: {holidays, workdays}` lists are local
overrides on top (a city's own day off).

Accelerated time. `time_scale` is policy seconds per real second (3600: one policy hour passes in one real
second). At any scale other than 1, clock hours shrink by the scale and a working day is treated as 24 scaled
hours, without the holiday calendar, so demos and tests can run days of deadlines in seconds.

The package: `workdays.py` (durations, the working-day calendar), `policy.py` (the rules), `clocks.py`
(pausable clocks), `warning_levels.py` (yellow and red warnings).
"""

from __future__ import annotations

from services.dispatch.domain.sla.clocks import Clock, deadlines
from services.dispatch.domain.sla.policy import Limits, SlaPolicy, SlaPolicyError, SlaRule, SlaSettings
from services.dispatch.domain.sla.warning_levels import WarningLevel, next_warning, warning_due, warning_level
from services.dispatch.domain.sla.workdays import (
    ANY,
    CHINA_TZ,
    CalendarNotCovered,
    Duration,
    TimeUnit,
    WorkCalendar,
)

__all__ = [
    "ANY", "CHINA_TZ", "CalendarNotCovered", "Clock", "Duration", "Limits", "SlaPolicy", "SlaPolicyError",
    "SlaRule", "SlaSettings", "TimeUnit", "WarningLevel", "WorkCalendar", "deadlines", "next_warning",
    "warning_due", "warning_level",
]
