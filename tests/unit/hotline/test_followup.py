from datetime import timedelta

import pytest

from services.hotline.domain.followup import (
    FollowUp,
    FollowUpPolicy,
    Outcome,
    OutcomeReason,
    Satisfaction,
    followup_outcome,
)
from shared.errors import Invalid


def test_a_caller_not_reached_is_called_again_later():
    decision = followup_outcome(FollowUp(reached=False), failed_attempts_before=0,
                                policy=FollowUpPolicy(max_attempts=3, retry_after=timedelta(hours=2)))
    assert decision.outcome is Outcome.RETRY_CALL
    assert decision.retry_after == timedelta(hours=2)
    assert decision.attempt == 1


def test_after_the_last_failed_attempt_the_order_is_archived_as_unreachable():
    policy = FollowUpPolicy(max_attempts=3)
    assert followup_outcome(FollowUp(reached=False), failed_attempts_before=1, policy=policy).outcome \
        is Outcome.RETRY_CALL
    decision = followup_outcome(FollowUp(reached=False), failed_attempts_before=2, policy=policy)
    assert (decision.outcome, decision.reason, decision.attempt) == (Outcome.ARCHIVE, OutcomeReason.UNREACHABLE, 3)


def test_a_dissatisfied_caller_whose_unit_failed_reopens_the_order():
    followup = FollowUp(reached=True, resolved=False, satisfaction=Satisfaction.DISSATISFIED, unit_at_fault=True)
    decision = followup_outcome(followup)
    assert (decision.outcome, decision.reason) == (Outcome.REOPEN, OutcomeReason.DISSATISFIED_UNIT_AT_FAULT)


def test_a_dissatisfied_caller_with_no_fault_of_the_unit_is_archived():
    followup = FollowUp(reached=True, resolved=False, satisfaction="dissatisfied", unit_at_fault=False)
    decision = followup_outcome(followup)
    assert (decision.outcome, decision.reason) == (Outcome.ARCHIVE, OutcomeReason.DISSATISFIED_NOT_UNIT_FAULT)


@pytest.mark.parametrize("satisfaction", ["satisfied", "basically_satisfied"])
def test_a_satisfied_caller_archives_the_order(satisfaction):
    decision = followup_outcome(FollowUp(reached=True, resolved=True, satisfaction=satisfaction))
    assert decision.outcome is Outcome.ARCHIVE
    assert decision.reason is OutcomeReason.SATISFIED


def test_a_reached_caller_must_be_asked_for_satisfaction_and_resolution():
    with pytest.raises(Invalid, match="满意度"):
        FollowUp(reached=True, resolved=True)
    with pytest.raises(Invalid, match="是否解决"):
        FollowUp(reached=True, satisfaction="satisfied")


def test_dissatisfaction_needs_the_operators_judgement_on_fault():
    with pytest.raises(Invalid, match="承办单位"):
        FollowUp(reached=True, resolved=False, satisfaction="dissatisfied")


def test_a_call_nobody_answered_carries_no_rating():
    with pytest.raises(Invalid, match="未接通"):
        FollowUp(reached=False, satisfaction="satisfied")


def test_an_unknown_satisfaction_word_is_rejected():
    with pytest.raises(Invalid, match="满意度"):
        FollowUp(reached=True, resolved=True, satisfaction="delighted")


def test_policy_and_attempt_counts_are_validated():
    with pytest.raises(ValueError):
        FollowUpPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        followup_outcome(FollowUp(reached=False), failed_attempts_before=-1)
