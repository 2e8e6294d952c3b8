"""Caller privacy: who may learn a caller's number (normalised and masked by shared.phones).

The full number lives only in the hotline's own store. Every answer and event that leaves the hotline
carries at most the masked form (138****1234), and a 保密件 (confidential appeal), an anonymous appeal or
any 举报 carries no caller at all: the unit being reported must never learn who called.
"""

from __future__ import annotations

from typing import Protocol

from shared.events.v1 import AppealType, CallerRef
from shared.phones import masked_for_contract, normalise_phone


def phone_or_none(text: str | None) -> str | None:
    """The canonical number, or None when blank or not (yet) a number: for a search while a call is typed."""
    if not text or not text.strip():
        return None
    try:
        return normalise_phone(text)
    except ValueError:
        return None


class CallerFacts(Protocol):
    """What caller_for_handlers needs of an appeal (the domain Appeal or the hotline's stored row)."""

    caller_phone: str | None
    caller_name: str | None
    appeal_type: AppealType | str
    confidential: bool
    anonymous: bool


def caller_is_protected(*, appeal_type: AppealType | str, confidential: bool, anonymous: bool) -> bool:
    """True when the handling units must not learn who called (保密件, anonymous, every 举报)."""
    return confidential or anonymous or AppealType(appeal_type) is AppealType.REPORT


def caller_for_handlers(appeal: CallerFacts) -> CallerRef | None:
    """The caller as handling units may see them, or None when the caller must stay hidden."""
    if caller_is_protected(appeal_type=appeal.appeal_type, confidential=appeal.confidential,
                           anonymous=appeal.anonymous):
        return None
    if not appeal.caller_phone:
        return None
    name = (appeal.caller_name or "").strip() or None
    return CallerRef(phone_masked=masked_for_contract(appeal.caller_phone), name=name)
