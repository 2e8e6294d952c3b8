"""Deadline warnings: yellow at a share of the time, red when late."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum


class WarningLevel(StrEnum):
    YELLOW = "yellow"  # 黄牌预警: most of the time is gone
    RED = "red"  # 红牌: the deadline has come


def warning_due(start: datetime, deadline: datetime, yellow_share: float) -> datetime:
    """When the yellow warning is due: `yellow_share` of the clock time from start to deadline (the red one
    is due at the deadline itself). Clock time, not working time, so it also holds at accelerated time."""
    if not 0 < yellow_share < 1:
        raise ValueError("yellow_share must be between 0 and 1")
    return start + (deadline - start) * yellow_share


def warning_level(start: datetime, deadline: datetime, now: datetime, yellow_share: float) -> WarningLevel | None:
    """The warning an order has reached at `now`, if any."""
    if now >= deadline:
        return WarningLevel.RED
    if now >= warning_due(start, deadline, yellow_share):
        return WarningLevel.YELLOW
    return None


def next_warning(start: datetime | None, deadline: datetime | None, now: datetime, yellow_share: float,
                 sent: Collection[WarningLevel] = ()) -> WarningLevel | None:
    """The highest warning due and not yet sent for this deadline (a skipped yellow is not sent after red)."""
    if start is None or deadline is None:
        return None
    level = warning_level(start, deadline, now, yellow_share)
    if level is None or level in sent or (level is WarningLevel.YELLOW and WarningLevel.RED in sent):
        return None
    return level
