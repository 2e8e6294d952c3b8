"""Follow-up call (回访) on a closed order, and what it means for the order: archive, reopen or call again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from shared.errors import Invalid


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class Outcome(StrEnum):
    ARCHIVE = "archive"  # 归档
    REOPEN = "reopen"  # 重办
    RETRY_CALL = "retry_call"  # 再次回访


class OutcomeReason(StrEnum):
    SATISFIED = "satisfied"  # satisfied or basically satisfied
    DISSATISFIED_UNIT_AT_FAULT = "dissatisfied_unit_at_fault"
    DISSATISFIED_NOT_UNIT_FAULT = "dissatisfied_not_unit_fault"  # e.g. unhappy with the policy itself
    NOT_REACHED = "not_reached"
    UNREACHABLE = "unreachable"  # 多次联系不上: archived without a rating


@dataclass(frozen=True, kw_only=True)
class FollowUp:
    """What the operator records after the follow-up call."""

    reached: bool
    resolved: bool | None = None
    satisfaction: Satisfaction | None = None
    unit_at_fault: bool | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.satisfaction is not None and not isinstance(self.satisfaction, Satisfaction):
            if self.satisfaction not in {s.value for s in Satisfaction}:
                raise Invalid("satisfaction", f"未知的满意度 {self.satisfaction!r} (unknown satisfaction)")
            object.__setattr__(self, "satisfaction", Satisfaction(self.satisfaction))
        if self.reached:
            if self.satisfaction is None:
                raise Invalid("satisfaction", "回访已接通时必须记录满意度 (satisfaction is required when the caller was reached)")
            if self.resolved is None:
                raise Invalid("resolved", "回访已接通时必须记录是否解决 (resolved is required when the caller was reached)")
            if self.satisfaction is Satisfaction.DISSATISFIED and self.unit_at_fault is None:
                # Reopening hangs on this judgement; leaving it blank would silently archive a failure.
                raise Invalid("unit_at_fault", "不满意时必须判定是否承办单位责任 (unit_at_fault is required when dissatisfied)")
        elif any(v is not None for v in (self.resolved, self.satisfaction, self.unit_at_fault)):
            raise Invalid("satisfaction", "未接通的回访不能记录解决情况或满意度 (a call nobody answered has no rating)")


@dataclass(frozen=True)
class FollowUpPolicy:
    """How often to try before archiving an order as unreachable, and how long to wait between calls."""

    max_attempts: int = 3
    retry_after: timedelta = timedelta(hours=4)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(frozen=True)
class FollowUpDecision:
    outcome: Outcome
    reason: OutcomeReason
    attempt: int  # which attempt this call was, counting from 1
    retry_after: timedelta | None = None


def followup_outcome(followup: FollowUp, *, failed_attempts_before: int = 0,
                     policy: FollowUpPolicy = FollowUpPolicy()) -> FollowUpDecision:
    """What the follow-up means for the order: not reached → retry (archive after N tries);
    dissatisfied because of the unit → reopen; anything else → archive."""
    if failed_attempts_before < 0:
        raise ValueError("failed_attempts_before must not be negative")
    attempt = failed_attempts_before + 1
    if not followup.reached:
        if attempt >= policy.max_attempts:
            return FollowUpDecision(Outcome.ARCHIVE, OutcomeReason.UNREACHABLE, attempt)
        return FollowUpDecision(Outcome.RETRY_CALL, OutcomeReason.NOT_REACHED, attempt, policy.retry_after)
    if followup.satisfaction is Satisfaction.DISSATISFIED:
        if followup.unit_at_fault:
            return FollowUpDecision(Outcome.REOPEN, OutcomeReason.DISSATISFIED_UNIT_AT_FAULT, attempt)
        return FollowUpDecision(Outcome.ARCHIVE, OutcomeReason.DISSATISFIED_NOT_UNIT_FAULT, attempt)
    return FollowUpDecision(Outcome.ARCHIVE, OutcomeReason.SATISFIED, attempt)
