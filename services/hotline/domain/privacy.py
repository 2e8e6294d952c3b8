"""Caller privacy: phone numbers are normalised for the hotline and masked for everyone else.

The full number lives only in the hotline's own store. Every answer and event that leaves the hotline
carries at most the masked form (138****1234), and a 保密件 (confidential appeal), an anonymous appeal or
any 举报 carries no caller at all: the unit being reported must never learn who called.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol

from shared.events.v1 import MASKED_PHONE, AppealType, CallerRef

_SEPARATORS = re.compile(r"[\s\-().·/]+")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# 010 and 02x are the only three-digit area codes (Beijing, Shanghai, Tianjin, Chongqing and the big
# regional centres); every other area code is 0 + three digits. Local numbers are 7 or 8 digits and never
# start with 0 or 1.
_LANDLINE_SHORT_AREA = re.compile(r"^(0[12]\d)([2-9]\d{6,7})$")
_LANDLINE_LONG_AREA = re.compile(r"^(0[3-9]\d{2})([2-9]\d{6,7})$")


def normalise_phone(text: str) -> str:
    """A caller's number in one canonical form: 13812341234 for mobiles, 0513-85123456 for landlines.

    Accepts +86 / 0086 / 86 prefixes, spaces, dashes, dots and brackets. Raises ValueError otherwise.
    """
    if text is None or not str(text).strip():
        raise ValueError("电话号码为空 (empty phone number)")
    raw = unicodedata.normalize("NFKC", str(text)).strip()  # full-width digits and ＋ from IMEs
    digits = _SEPARATORS.sub("", raw)
    international = False
    if digits.startswith("+86"):
        digits, international = digits[3:], True
    elif digits.startswith("0086"):
        digits, international = digits[4:], True
    elif digits.startswith("86") and len(digits) == 13 and _MOBILE.match(digits[2:]):
        digits = digits[2:]
    if not digits.isdigit():
        raise ValueError(f"电话号码只能包含数字: {raw!r} (a phone number may only contain digits)")
    if _MOBILE.match(digits):
        return digits
    if international and not digits.startswith("0"):
        digits = "0" + digits  # +86 513 ... drops the trunk prefix of the area code
    for pattern in (_LANDLINE_SHORT_AREA, _LANDLINE_LONG_AREA):
        match = pattern.match(digits)
        if match:
            return f"{match.group(1)}-{match.group(2)}"
    raise ValueError(
        f"无法识别的电话号码: {raw!r}; expected a mobile (1[3-9] + 9 digits) "
        "or a landline with its area code (e.g. 0513-85123456)")


def phone_or_none(text: str | None) -> str | None:
    """The canonical number, or None when blank or not (yet) a number: for a search while a call is typed."""
    if not text or not text.strip():
        return None
    try:
        return normalise_phone(text)
    except ValueError:
        return None


def is_mobile(phone: str) -> bool:
    """True for a normalised mobile number."""
    return bool(_MOBILE.match(phone))


def mask_phone(phone: str) -> str:
    """What anyone outside the hotline may see: 138****1234, or 0513****3456 for a landline.

    A number that cannot be recognised is masked completely rather than partly leaked.
    """
    try:
        normal = normalise_phone(phone)
    except ValueError:
        digits = re.sub(r"\D", "", str(phone or ""))
        return "*" * max(len(digits), 4)
    if is_mobile(normal):
        return f"{normal[:3]}****{normal[-4:]}"
    area, local = normal.split("-")
    return f"{area}****{local[-4:]}"


def masked_for_contract(phone: str) -> str:
    """The masked number in the form the v1 event contract accepts.

    v1's CallerRef pattern allows three leading digits only, so a landline with a four-digit area code
    (0513****3456) is shortened to 051****3456 there; once the contract allows \\d{3,4} the full area
    code passes through unchanged.
    """
    masked = mask_phone(phone)
    if MASKED_PHONE.fullmatch(masked):
        return masked
    visible = re.sub(r"\D", "", masked)
    return f"{visible[:3]}****{visible[-4:]}" if len(visible) >= 7 else "*" * max(len(masked), 4)


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
