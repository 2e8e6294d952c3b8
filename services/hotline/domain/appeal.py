"""An appeal (诉求) as the operator takes it from a call, its number, and what happens next (disposition)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.hotline.domain.scope import ScopeDecision, ScopeKind
from shared.errors import Invalid
from shared.events.v1 import AppealType, Coordinates, Urgency
from shared.phones import normalise_phone

__all__ = [
    "APPEAL_TYPE_NAMES",
    "Appeal",
    "AppealOutcome",
    "AppealType",
    "Disposition",
    "clean_text",
    "decide_outcome",
    "parse_appeal_type",
]

APPEAL_TYPE_NAMES: dict[AppealType, str] = {
    AppealType.CONSULTATION: "咨询",
    AppealType.HELP: "求助",
    AppealType.COMPLAINT: "投诉",
    AppealType.REPORT: "举报",
    AppealType.SUGGESTION: "建议",
    AppealType.PRAISE: "表扬",
}
_APPEAL_TYPE_BY_NAME = {name: kind for kind, name in APPEAL_TYPE_NAMES.items()}

MAX_DESCRIPTION = 10_000
MAX_ADDRESS = 500
MAX_NAME = 50
NUMBER_PREFIX = "12345"

_SPACES = re.compile(r"[ \t\u00a0\u3000\u200b\ufeff]+")


def parse_appeal_type(text: str | AppealType) -> AppealType:
    """诉求类型 from its Chinese name (咨询) or its code (consultation)."""
    if isinstance(text, AppealType):
        return text
    value = str(text).strip()
    if value in _APPEAL_TYPE_BY_NAME:
        return _APPEAL_TYPE_BY_NAME[value]
    try:
        return AppealType(value.lower())
    except ValueError:
        names = "/".join(APPEAL_TYPE_NAMES.values())
        raise ValueError(f"未知的诉求类型 {value!r}: expected one of {names}") from None


def _field(name: str, parse: Callable[[Any], Any], value: Any) -> Any:
    """A parser's ValueError (also what the API's own validators raise) as a refusal of this field."""
    try:
        return parse(value)
    except ValueError as exc:
        raise Invalid(name, str(exc)) from None


def clean_text(text: str | None) -> str:
    """Trim each line, collapse runs of spaces (including the ideographic space), drop empty lines."""
    if not text:
        return ""
    lines = (_SPACES.sub(" ", line).strip() for line in str(text).replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True, kw_only=True)
class Appeal:
    """One call's appeal as the operator records it. The phone here is the full, normalised number:
    this object never leaves the hotline (see privacy.caller_for_handlers for what does)."""

    caller_phone: str | None
    caller_name: str | None
    appeal_type: AppealType
    category_code: str
    description: str
    address: str | None
    coordinates: Coordinates | None
    urgency: Urgency | None
    confidential: bool
    anonymous: bool
    received_at: datetime

    @classmethod
    def create(cls, *, caller_phone: str | None, appeal_type: AppealType | str, category_code: str,
               description: str, received_at: datetime, caller_name: str | None = None,
               address: str | None = None, coordinates: Coordinates | None = None,
               urgency: Urgency | None = None, confidential: bool = False,
               anonymous: bool = False) -> Appeal:
        """Validate and normalise an operator's input; refuses with `Invalid` naming the field at fault."""
        description = clean_text(description)
        if not description:
            raise Invalid("description", "诉求内容不能为空 (the description is empty)")
        if len(description) > MAX_DESCRIPTION:
            raise Invalid("description", f"诉求内容过长: {len(description)} > {MAX_DESCRIPTION} characters")
        category_code = (category_code or "").strip()
        if not category_code:
            raise Invalid("category_code", "缺少诉求分类 (category code is required)")
        name = clean_text(caller_name) or None
        if name is not None and len(name) > MAX_NAME:
            raise Invalid("caller_name", f"来电人姓名过长: {len(name)} > {MAX_NAME} characters")
        if anonymous and name is not None:
            # A caller who asked to stay anonymous must not end up named in the record.
            raise Invalid("caller_name", "匿名诉求不应记录来电人姓名 (an anonymous appeal carries no caller name)")
        address = clean_text(address) or None
        if address is not None and len(address) > MAX_ADDRESS:
            raise Invalid("address", f"地址过长: {len(address)} > {MAX_ADDRESS} characters")
        phone = _field("caller_phone", normalise_phone, caller_phone) if caller_phone and caller_phone.strip() \
            else None
        return cls(caller_phone=phone, caller_name=name,
                   appeal_type=_field("appeal_type", parse_appeal_type, appeal_type),
                   category_code=category_code, description=description, address=address,
                   coordinates=coordinates, urgency=urgency, confidential=confidential, anonymous=anonymous,
                   received_at=received_at)

    @property
    def has_location(self) -> bool:
        return self.coordinates is not None or bool(self.address)


class Disposition(StrEnum):
    """What happens to the appeal after the call (the answer the operator gives the caller)."""

    DISPATCHED = "dispatched"  # 派单: becomes a work order for a unit
    ANSWERED_DIRECTLY = "answered_directly"  # 直接答复: answered from the knowledge base, closed
    EMERGENCY = "emergency"  # 转 110/119/120/122 at once
    OUT_OF_SCOPE = "out_of_scope"  # 不予受理: refused with the reason and the right channel
    LINKED = "linked"  # 重复件: linked to an existing order, not dispatched again


@dataclass(frozen=True, kw_only=True)
class AppealOutcome:
    """The disposition with what the caller is told and what the record keeps."""

    disposition: Disposition
    emergency_line: str | None = None
    reason: str | None = None
    channel: str | None = None
    linked_order: str | None = None

    def __post_init__(self) -> None:
        if self.disposition is Disposition.EMERGENCY and not self.emergency_line:
            raise ValueError("an emergency hand-over names the line (110/119/120/122)")
        if self.disposition is Disposition.OUT_OF_SCOPE and not (self.reason and self.channel):
            raise ValueError("a refusal carries the reason and the right channel")
        if self.disposition is Disposition.LINKED and not self.linked_order:
            raise ValueError("a duplicate is linked to an existing order")

    @property
    def message_zh(self) -> str:
        """One sentence the operator can read out, or show on the answer."""
        match self.disposition:
            case Disposition.EMERGENCY:
                return f"紧急事项，已转 {self.emergency_line} 处置"
            case Disposition.OUT_OF_SCOPE:
                return f"不属于12345受理范围（{self.reason}），请通过{self.channel}反映"
            case Disposition.LINKED:
                return f"已有相同诉求在办理，已并入工单 {self.linked_order}"
            case Disposition.ANSWERED_DIRECTLY:
                return "已直接答复，办结"
            case _:
                return "已受理，将派交责任单位办理"


def decide_outcome(*, scope: ScopeDecision, appeal_type: AppealType, answered_directly: bool = False,
                   linked_order: str | None = None) -> AppealOutcome:
    """What happens next: emergency beats out-of-scope beats duplicate link beats direct answer beats dispatch."""
    if scope.kind is ScopeKind.EMERGENCY:
        return AppealOutcome(disposition=Disposition.EMERGENCY, emergency_line=scope.emergency_line,
                             reason=scope.reason)
    if scope.kind is ScopeKind.OUT_OF_SCOPE:
        return AppealOutcome(disposition=Disposition.OUT_OF_SCOPE, reason=scope.reason, channel=scope.channel)
    if linked_order:
        return AppealOutcome(disposition=Disposition.LINKED, linked_order=linked_order)
    if answered_directly:
        if appeal_type is not AppealType.CONSULTATION:
            # Only a consultation can be closed from the knowledge base; anything else needs a unit.
            raise Invalid("answer_article_id", f"只有咨询可以直接答复，{APPEAL_TYPE_NAMES[appeal_type]}需要派单办理 "
                                               "(only a consultation can be answered directly)")
        return AppealOutcome(disposition=Disposition.ANSWERED_DIRECTLY)
    return AppealOutcome(disposition=Disposition.DISPATCHED)
