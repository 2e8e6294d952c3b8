"""Phone numbers, written once: the canonical form (13812341234, 0513-85123456) and the masked form anyone
outside the number's owner may see (138****1234). Hotline keeps callers' numbers, intake forwards Open311
callers' and grid shows its members': all three mask with `mask_phone`, and events carry
`masked_for_contract`, the form the v1 contract's pattern accepts.
"""

from __future__ import annotations

import re
import unicodedata

from shared.events.v1 import MASKED_PHONE

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
    """The masked number in the form the v1 event contract's pattern (MASKED_PHONE) accepts.

    `mask_phone`'s forms all match it today; the shortening below keeps an event valid should the two drift.
    """
    masked = mask_phone(phone)
    if MASKED_PHONE.fullmatch(masked):
        return masked
    visible = re.sub(r"\D", "", masked)
    return f"{visible[:3]}****{visible[-4:]}" if len(visible) >= 7 else "*" * max(len(masked), 4)
