from dataclasses import dataclass

import pytest

from services.hotline.domain.scope import (
    DecidedBy,
    EmergencyLine,
    OperatorChoice,
    ScopeKind,
    ScopeRules,
    assess_scope,
)
from shared.errors import Invalid


@dataclass(frozen=True)
class Category:
    code: str
    emergency_line: str | None = None


ROADS = Category("0301")


@pytest.mark.parametrize(("text", "line"), [
    ("楼下三楼着火了，浓烟很大", EmergencyLine.FIRE),
    ("仓库发生火灾", EmergencyLine.FIRE),
    ("路边有位老人晕倒昏迷不醒", EmergencyLine.AMBULANCE),
    ("工地有工人受伤流血", EmergencyLine.AMBULANCE),
    ("小区门口有人持刀威胁路人", EmergencyLine.POLICE),
    ("烧烤摊几个人在打架", EmergencyLine.POLICE),
    ("人民路口刚发生车祸", EmergencyLine.TRAFFIC),
    ("两车发生交通事故堵住路口", EmergencyLine.TRAFFIC),
])
def test_an_emergency_in_the_description_names_the_line_to_hand_over_to(text, line):
    decision = assess_scope(text, ROADS)
    assert decision.kind is ScopeKind.EMERGENCY
    assert decision.emergency_line is line
    assert decision.decided_by is DecidedBy.KEYWORD
    assert line.value in decision.reason


@pytest.mark.parametrize("text", [
    "楼下火锅店油烟太大，影响居民休息",
    "楼道堆放杂物存在火灾隐患，请物业清理",
    "乱扔烟头容易引起火灾，建议加强宣传",
    "楼上每天晚上打架子鼓到十一点",
    "法院门口的路灯坏了一个星期",
    "商家虚假宣传，消费者权益受伤害",
    "社区能否组织急救培训",
])
def test_ordinary_matters_that_merely_contain_an_alarming_character_stay_in_scope(text):
    decision = assess_scope(text, ROADS)
    assert decision.kind is ScopeKind.IN_SCOPE, decision


def test_a_traffic_accident_with_injuries_goes_to_120_first_and_notes_122():
    decision = assess_scope("车祸，有人受伤", ROADS)
    assert decision.emergency_line is EmergencyLine.AMBULANCE
    assert decision.other_lines == (EmergencyLine.TRAFFIC,)


@pytest.mark.parametrize(("text", "rule", "channel_word"), [
    ("我要起诉开发商延期交房", "litigation", "人民法院"),
    ("案子已经在法院审理了", "litigation", "人民法院"),
    ("劳动仲裁裁决公司一直不执行", "arbitration", "仲裁委员会"),
    ("我想反映信访事项的处理结果", "petition", "信访部门"),
    ("举报某局干部违纪收礼", "discipline", "12388"),
    ("申请信息公开某项目的审批文件", "disclosure", "信息公开"),
])
def test_matters_with_their_own_channel_are_refused_with_reason_and_channel(text, rule, channel_word):
    decision = assess_scope(text, ROADS)
    assert decision.kind is ScopeKind.OUT_OF_SCOPE
    assert decision.rule == rule
    assert channel_word in decision.channel
    assert decision.reason


def test_an_emergency_outranks_an_out_of_scope_keyword():
    decision = assess_scope("法院旁边的饭店着火了", ROADS)
    assert decision.kind is ScopeKind.EMERGENCY and decision.emergency_line is EmergencyLine.FIRE


def test_an_emergency_category_hands_over_even_without_keywords():
    decision = assess_scope("燃气味道很重", Category("9901", emergency_line="119"))
    assert decision.kind is ScopeKind.EMERGENCY
    assert decision.emergency_line is EmergencyLine.FIRE
    assert decision.decided_by is DecidedBy.CATEGORY


def test_the_operators_choice_overrides_the_keyword_rules():
    text = "昨天小区着火的事，物业一直没有清理现场"
    assert assess_scope(text, ROADS).kind is ScopeKind.EMERGENCY
    decision = assess_scope(text, ROADS, OperatorChoice.in_scope())
    assert decision.kind is ScopeKind.IN_SCOPE
    assert decision.decided_by is DecidedBy.OPERATOR


def test_the_operators_choice_overrides_an_emergency_category_too():
    decision = assess_scope("咨询消防设施检查", Category("9901", "119"), OperatorChoice.in_scope())
    assert decision.kind is ScopeKind.IN_SCOPE


def test_the_operator_can_hand_over_to_a_line_the_keywords_missed():
    decision = assess_scope("家里老人说胸口疼", ROADS, OperatorChoice.emergency("120"))
    assert decision.kind is ScopeKind.EMERGENCY and decision.emergency_line is EmergencyLine.AMBULANCE


def test_the_operator_refusing_by_rule_code_gets_the_tables_reason_and_channel():
    decision = assess_scope("对判决不服", ROADS, OperatorChoice.out_of_scope("litigation"))
    assert decision.kind is ScopeKind.OUT_OF_SCOPE
    assert "人民法院" in decision.channel


def test_the_operator_refusing_needs_a_rule_or_both_reason_and_channel():
    with pytest.raises(Invalid, match="原因和应去的渠道"):
        assess_scope("x", ROADS, OperatorChoice.out_of_scope(reason="不归我们管"))
    decision = assess_scope("x", ROADS, OperatorChoice.out_of_scope(reason="属于物业合同纠纷", channel="人民调解委员会"))
    assert decision.channel == "人民调解委员会"


def test_an_unknown_rule_code_is_an_error():
    with pytest.raises(ValueError, match="no out-of-scope rule"):
        assess_scope("x", ROADS, OperatorChoice.out_of_scope("weather"))


def test_a_city_can_load_its_own_rule_table():
    rules = ScopeRules.from_mapping({
        "emergency": [{"line": "119", "label": "燃气泄漏", "keywords": ["燃气泄漏"], "exclusions": ["燃气泄漏报警器"]}],
        "out_of_scope": [{"code": "consumer", "label": "消费维权", "reason": "消费纠纷走12315",
                          "channel": "12315", "keywords": ["退货"]}],
    })
    assert assess_scope("楼道燃气泄漏", ROADS, rules=rules).emergency_line is EmergencyLine.FIRE
    assert assess_scope("燃气泄漏报警器坏了", ROADS, rules=rules).kind is ScopeKind.IN_SCOPE
    assert assess_scope("网店不给退货", ROADS, rules=rules).channel == "12315"
    # the default table is not in play any more
    assert assess_scope("着火了", ROADS, rules=rules).kind is ScopeKind.IN_SCOPE


def test_a_rule_table_with_a_single_string_for_keywords_is_rejected():
    with pytest.raises(ValueError):
        ScopeRules.from_mapping({"emergency": [{"line": "110", "keywords": "抢劫"}]})
