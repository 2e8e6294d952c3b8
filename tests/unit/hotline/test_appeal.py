from datetime import UTC, datetime

import pytest

from services.hotline.domain.appeal import (
    Appeal,
    AppealOutcome,
    Disposition,
    decide_outcome,
    parse_appeal_type,
)
from services.hotline.domain.scope import DecidedBy, EmergencyLine, ScopeDecision, ScopeKind
from shared.errors import Invalid
from shared.events.v1 import AppealType, Coordinates

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
IN_SCOPE = ScopeDecision(ScopeKind.IN_SCOPE, DecidedBy.DEFAULT)


def test_the_operator_may_type_the_appeal_type_in_chinese_or_as_its_code():
    assert parse_appeal_type("咨询") is AppealType.CONSULTATION
    assert parse_appeal_type("表扬") is AppealType.PRAISE
    assert parse_appeal_type("Complaint") is AppealType.COMPLAINT
    with pytest.raises(ValueError, match="诉求类型"):
        parse_appeal_type("闲聊")


def test_creating_an_appeal_normalises_the_phone_and_tidies_the_text():
    appeal = Appeal.create(caller_phone="+86 138-1234-1234", caller_name="  王 女士 ", appeal_type="求助",
                           category_code=" 0203 ", description="  楼道　灯坏了\n\n  三天了 ",
                           address=" 如东县掘港街道  人民路1号 ", coordinates=Coordinates(lon=121.18, lat=32.31),
                           received_at=NOW)
    assert appeal.caller_phone == "13812341234"
    assert appeal.caller_name == "王 女士"
    assert appeal.appeal_type is AppealType.HELP
    assert appeal.category_code == "0203"
    assert appeal.description == "楼道 灯坏了\n三天了"
    assert appeal.address == "如东县掘港街道 人民路1号"
    assert appeal.has_location


def test_an_appeal_without_a_description_is_refused():
    with pytest.raises(Invalid, match="诉求内容不能为空"):
        Appeal.create(caller_phone=None, appeal_type="咨询", category_code="01", description=" \u3000\n ",
                      received_at=NOW)


def test_an_anonymous_appeal_may_not_record_the_callers_name():
    with pytest.raises(Invalid, match="匿名"):
        Appeal.create(caller_phone="13812341234", caller_name="赵", appeal_type="投诉", category_code="01",
                      description="噪音扰民", anonymous=True, received_at=NOW)


def test_an_invalid_phone_number_is_refused_when_the_appeal_is_created():
    with pytest.raises(Invalid, match="电话号码"):
        Appeal.create(caller_phone="12345", appeal_type="投诉", category_code="01", description="噪音",
                      received_at=NOW)



def test_an_emergency_is_handed_over_whatever_else_the_operator_chose():
    scope = ScopeDecision(ScopeKind.EMERGENCY, DecidedBy.KEYWORD, emergency_line=EmergencyLine.FIRE,
                          reason="火灾")
    outcome = decide_outcome(scope=scope, appeal_type=AppealType.CONSULTATION, answered_directly=True,
                             linked_order="GD1")
    assert outcome.disposition is Disposition.EMERGENCY
    assert outcome.emergency_line == "119"
    assert "119" in outcome.message_zh


def test_an_out_of_scope_appeal_is_refused_with_reason_and_channel():
    scope = ScopeDecision(ScopeKind.OUT_OF_SCOPE, DecidedBy.KEYWORD, reason="涉诉", channel="人民法院")
    outcome = decide_outcome(scope=scope, appeal_type=AppealType.COMPLAINT)
    assert (outcome.disposition, outcome.reason, outcome.channel) == (Disposition.OUT_OF_SCOPE, "涉诉", "人民法院")
    assert "人民法院" in outcome.message_zh


def test_a_duplicate_is_linked_instead_of_dispatched_again():
    outcome = decide_outcome(scope=IN_SCOPE, appeal_type=AppealType.COMPLAINT, linked_order="GD20261122000007")
    assert outcome.disposition is Disposition.LINKED
    assert outcome.linked_order == "GD20261122000007"


def test_a_consultation_answered_from_the_knowledge_base_is_a_direct_answer():
    outcome = decide_outcome(scope=IN_SCOPE, appeal_type=AppealType.CONSULTATION, answered_directly=True)
    assert outcome.disposition is Disposition.ANSWERED_DIRECTLY


def test_only_a_consultation_can_be_answered_directly():
    with pytest.raises(Invalid, match="咨询"):
        decide_outcome(scope=IN_SCOPE, appeal_type=AppealType.COMPLAINT, answered_directly=True)


def test_anything_else_in_scope_is_dispatched():
    assert decide_outcome(scope=IN_SCOPE, appeal_type=AppealType.HELP).disposition is Disposition.DISPATCHED


def test_an_outcome_missing_what_the_caller_must_be_told_is_invalid():
    with pytest.raises(ValueError):
        AppealOutcome(disposition=Disposition.EMERGENCY)
    with pytest.raises(ValueError):
        AppealOutcome(disposition=Disposition.OUT_OF_SCOPE, reason="涉诉")
    with pytest.raises(ValueError):
        AppealOutcome(disposition=Disposition.LINKED)
