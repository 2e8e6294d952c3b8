"""Is this a matter for 12345? Emergencies go to 110/119/120/122; some matters have their own channel.

The keyword rules are a first guess that prompts the operator, never the last word: the operator's explicit
choice overrides both the category and the keywords. The table is data (ScopeRules.from_mapping reads the
same shape from YAML) so a city can edit it without touching code.

How a keyword counts: it must appear in the description (whitespace ignored, full-width folded), and not
inside one of the rule's exclusion phrases. Exclusions keep the obvious false positives out: 火灾隐患 is a
hazard to dispatch, not a fire in progress; 打架子鼓 is a drum kit; 法院门口 is an address. Keywords are
chosen as whole words, so 火锅 never meets 着火/火灾 in the first place.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from shared.errors import Invalid


class EmergencyLine(StrEnum):
    POLICE = "110"  # 公安报警
    FIRE = "119"  # 消防救援
    AMBULANCE = "120"  # 医疗急救
    TRAFFIC = "122"  # 交通事故报警


EMERGENCY_LINE_NAMES: dict[EmergencyLine, str] = {
    EmergencyLine.POLICE: "110 公安报警",
    EmergencyLine.FIRE: "119 消防救援",
    EmergencyLine.AMBULANCE: "120 医疗急救",
    EmergencyLine.TRAFFIC: "122 交通事故报警",
}


class ScopeKind(StrEnum):
    IN_SCOPE = "in_scope"
    EMERGENCY = "emergency"
    OUT_OF_SCOPE = "out_of_scope"


class DecidedBy(StrEnum):
    OPERATOR = "operator"
    CATEGORY = "category"
    KEYWORD = "keyword"
    DEFAULT = "default"


@dataclass(frozen=True)
class EmergencyRule:
    """Keywords that mean an emergency in progress, handed to `line` at once. Table order is priority."""

    line: EmergencyLine
    label: str
    keywords: tuple[str, ...]
    exclusions: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutOfScopeRule:
    """A matter with its own legal channel: refused with `reason`, caller pointed to `channel`."""

    code: str
    label: str
    reason: str
    channel: str
    keywords: tuple[str, ...]
    exclusions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScopeRules:
    emergency: tuple[EmergencyRule, ...]
    out_of_scope: tuple[OutOfScopeRule, ...]

    def out_of_scope_rule(self, code: str) -> OutOfScopeRule:
        for rule in self.out_of_scope:
            if rule.code == code:
                return rule
        raise ValueError(f"no out-of-scope rule {code!r}; known: {[r.code for r in self.out_of_scope]}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ScopeRules:
        """Rules from already-parsed data: {emergency: [{line, label, keywords, exclusions}],
        out_of_scope: [{code, label, reason, channel, keywords, exclusions}]}."""
        emergency = tuple(
            EmergencyRule(line=EmergencyLine(str(item["line"])), label=str(item.get("label", "")),
                          keywords=_words(item["keywords"]), exclusions=_words(item.get("exclusions", ())))
            for item in data.get("emergency", ()))
        out = tuple(
            OutOfScopeRule(code=str(item["code"]), label=str(item.get("label", item["code"])),
                           reason=str(item["reason"]), channel=str(item["channel"]),
                           keywords=_words(item["keywords"]), exclusions=_words(item.get("exclusions", ())))
            for item in data.get("out_of_scope", ()))
        for rule in (*emergency, *out):
            if not rule.keywords:
                raise ValueError(f"rule {rule.label!r} has no keywords")
        return cls(emergency=emergency, out_of_scope=out)


def _words(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ValueError("keywords and exclusions are lists, not one string")
    return tuple(_fold(str(v)) for v in values if str(v).strip())


DEFAULT_RULES = ScopeRules(
    emergency=(
        EmergencyRule(EmergencyLine.FIRE, "火灾", ("着火", "火灾", "失火", "起火", "火情"),
                      ("火灾隐患", "防火灾", "预防火灾", "火灾险", "火灾保险", "火灾演练", "火情隐患",
                       "易引起火灾", "易引发火灾", "易造成火灾", "易导致火灾")),
        EmergencyRule(EmergencyLine.AMBULANCE, "伤病急救",
                      ("昏迷", "受伤", "急救", "晕倒", "大出血", "呼吸困难", "心脏骤停", "不省人事"),
                      ("受伤害", "急救知识", "急救培训", "急救箱", "急救包", "急救证")),
        EmergencyRule(EmergencyLine.POLICE, "违法犯罪正在发生",
                      ("抢劫", "打架", "持刀", "斗殴", "砍人", "行凶", "绑架", "抢夺"),
                      ("打架子鼓", "架子鼓")),
        EmergencyRule(EmergencyLine.TRAFFIC, "交通事故", ("车祸", "交通事故", "撞车", "追尾"), ()),
    ),
    out_of_scope=(
        OutOfScopeRule("litigation", "诉讼", "涉诉事项属于司法程序，12345不予受理",
                       "人民法院（依法提起诉讼或向受理法院反映）", ("诉讼", "起诉", "法院", "上诉", "再审"),
                       ("法院门口", "法院附近", "法院旁", "法院对面", "法院路", "法院街", "法院小区")),
        OutOfScopeRule("arbitration", "仲裁", "已进入或应通过仲裁程序解决的纠纷，12345不予受理",
                       "仲裁委员会（劳动争议向劳动人事争议仲裁委员会申请）", ("仲裁",)),
        OutOfScopeRule("petition", "信访", "信访事项按《信访工作条例》办理，12345不予受理",
                       "信访部门（来信、来访或网上信访）", ("信访",)),
        OutOfScopeRule("discipline", "纪检监察", "党员干部违纪违法问题由纪检监察机关受理",
                       "纪委监委（举报电话 12388 或网站举报）", ("纪检", "纪委", "违纪", "监委")),
        OutOfScopeRule("disclosure", "信息公开", "政府信息公开申请依《政府信息公开条例》办理",
                       "政府信息公开申请渠道（向有关行政机关提交信息公开申请）",
                       ("信息公开", "依申请公开")),
    ),
)


class CategoryLike(Protocol):
    """The part of a category record scope needs (shared/categories.Category fits)."""

    code: str
    emergency_line: str | None


@dataclass(frozen=True)
class ScopeDecision:
    kind: ScopeKind
    decided_by: DecidedBy
    emergency_line: EmergencyLine | None = None
    reason: str | None = None
    channel: str | None = None
    rule: str | None = None  # the out-of-scope rule code, or the emergency rule label
    matched: tuple[str, ...] = ()  # the keywords found in the description
    other_lines: tuple[EmergencyLine, ...] = field(default=())  # further lines the keywords pointed to

    @property
    def in_scope(self) -> bool:
        return self.kind is ScopeKind.IN_SCOPE


@dataclass(frozen=True)
class OperatorChoice:
    """The operator's explicit call on scope; it beats the category and every keyword."""

    kind: ScopeKind
    emergency_line: EmergencyLine | None = None
    rule: str | None = None
    reason: str | None = None
    channel: str | None = None

    @classmethod
    def in_scope(cls) -> OperatorChoice:
        return cls(ScopeKind.IN_SCOPE)

    @classmethod
    def emergency(cls, line: EmergencyLine | str) -> OperatorChoice:
        return cls(ScopeKind.EMERGENCY, emergency_line=EmergencyLine(str(line)))

    @classmethod
    def out_of_scope(cls, rule: str | None = None, *, reason: str | None = None,
                     channel: str | None = None) -> OperatorChoice:
        return cls(ScopeKind.OUT_OF_SCOPE, rule=rule, reason=reason, channel=channel)


@functools.lru_cache(maxsize=256)  # one call's description is checked against every rule
def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def _occurrences(text: str, word: str) -> Iterable[int]:
    start = text.find(word)
    while start != -1:
        yield start
        start = text.find(word, start + 1)


def find_keywords(text: str, keywords: Iterable[str], exclusions: Iterable[str] = ()) -> tuple[str, ...]:
    """The keywords present in `text` outside every exclusion phrase (text folded as the rules are)."""
    folded = _fold(text)
    covered = [(s, s + len(e)) for e in exclusions if e in folded for s in _occurrences(folded, e)]
    found = []
    for word in keywords:
        if word not in folded:  # most words of most rules: no generator to start
            continue
        for start in _occurrences(folded, word):
            end = start + len(word)
            if not any(s <= start and end <= e for s, e in covered):
                found.append(word)
                break
    return tuple(found)


def assess_scope(description: str, category: CategoryLike | None, operator_choice: OperatorChoice | None = None,
                 *, rules: ScopeRules = DEFAULT_RULES) -> ScopeDecision:
    """Emergency, out of scope or ours: the operator's choice, then the category's emergency line, then keywords."""
    if operator_choice is not None:
        return _from_operator(operator_choice, rules)
    if category is not None and getattr(category, "emergency_line", None):
        line = EmergencyLine(str(category.emergency_line))
        return ScopeDecision(ScopeKind.EMERGENCY, DecidedBy.CATEGORY, emergency_line=line,
                             reason=f"分类 {category.code} 属于紧急事项，转{EMERGENCY_LINE_NAMES[line]}")
    hits = [(rule, find_keywords(description, rule.keywords, rule.exclusions)) for rule in rules.emergency]
    hits = [(rule, words) for rule, words in hits if words]
    if hits:
        first, words = hits[0]
        others = tuple(dict.fromkeys(r.line for r, _ in hits[1:] if r.line is not first.line))
        return ScopeDecision(ScopeKind.EMERGENCY, DecidedBy.KEYWORD, emergency_line=first.line,
                             reason=f"{first.label}，转{EMERGENCY_LINE_NAMES[first.line]}", rule=first.label,
                             matched=words, other_lines=others)
    for rule in rules.out_of_scope:
        words = find_keywords(description, rule.keywords, rule.exclusions)
        if words:
            return ScopeDecision(ScopeKind.OUT_OF_SCOPE, DecidedBy.KEYWORD, reason=rule.reason,
                                 channel=rule.channel, rule=rule.code, matched=words)
    return ScopeDecision(ScopeKind.IN_SCOPE, DecidedBy.DEFAULT)


def _from_operator(choice: OperatorChoice, rules: ScopeRules) -> ScopeDecision:
    if choice.kind is ScopeKind.IN_SCOPE:
        return ScopeDecision(ScopeKind.IN_SCOPE, DecidedBy.OPERATOR)
    if choice.kind is ScopeKind.EMERGENCY:
        if choice.emergency_line is None:
            raise Invalid("scope", "转紧急热线须指明 110、119、120 或 122 (an emergency hand-over must name the line)")
        line = EmergencyLine(str(choice.emergency_line))
        return ScopeDecision(ScopeKind.EMERGENCY, DecidedBy.OPERATOR, emergency_line=line,
                             reason=f"话务员判定为紧急事项，转{EMERGENCY_LINE_NAMES[line]}")
    if choice.rule is not None:
        rule = rules.out_of_scope_rule(choice.rule)
        return ScopeDecision(ScopeKind.OUT_OF_SCOPE, DecidedBy.OPERATOR, reason=choice.reason or rule.reason,
                             channel=choice.channel or rule.channel, rule=rule.code)
    if not (choice.reason and choice.channel):
        raise Invalid("scope", "不予受理须指明规则，或同时写明原因和应去的渠道 "
                               "(refusing needs a rule code, or both the reason and the right channel)")
    return ScopeDecision(ScopeKind.OUT_OF_SCOPE, DecidedBy.OPERATOR, reason=choice.reason,
                         channel=choice.channel)
