from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.hotline.domain.appeal import Appeal
from services.hotline.domain.privacy import caller_for_handlers
from shared.events.v1 import MASKED_PHONE, AppealType
from shared.phones import mask_phone, masked_for_contract, normalise_phone

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["13812341234", "138 1234 1234", "138-1234-1234", "+86 138 1234 1234",
                                 "0086-13812341234", "8613812341234", "１３８１２３４１２３４"])
def test_mobile_numbers_in_any_spelling_normalise_to_eleven_digits(raw):
    assert normalise_phone(raw) == "13812341234"


@pytest.mark.parametrize(("raw", "expected"), [
    ("0513-85123456", "0513-85123456"),
    ("(0513) 8512 3456", "0513-85123456"),
    ("051385123456", "0513-85123456"),
    ("+86 513 8512 3456", "0513-85123456"),
    ("010-62345678", "010-62345678"),
    ("02162345678", "021-62345678"),
    ("0516-7123456", "0516-7123456"),
])
def test_landlines_keep_their_area_code_apart_from_the_local_number(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "1381234123", "12812341234", "0513-123", "0513-05123456",
                                 "phone", "138123412345"])
def test_numbers_that_are_neither_mobile_nor_landline_are_refused_with_a_reason(raw):
    with pytest.raises(ValueError, match="电话号码"):
        normalise_phone(raw)


def test_a_mobile_is_masked_to_the_first_three_and_last_four_digits():
    assert mask_phone("+86 138 0513 1234") == "138****1234"


def test_a_landline_keeps_its_area_code_and_last_four_digits_when_masked():
    assert mask_phone("0513-85123456") == "0513****3456"
    assert mask_phone("010-62345678") == "010****5678"


def test_an_unrecognisable_number_is_masked_completely():
    masked = mask_phone("95 12 34")
    assert set(masked) == {"*"} and len(masked) >= 4


def test_the_contract_form_of_a_four_digit_area_code_still_validates_and_keeps_the_last_four():
    masked = masked_for_contract("0513-85123456")
    assert MASKED_PHONE.fullmatch(masked)
    assert masked.endswith("3456") and "8512" not in masked


def _appeal(**overrides):
    fields = dict(caller_phone="13812341234", caller_name="张先生", appeal_type=AppealType.COMPLAINT,
                  category_code="0101", description="小区路灯不亮", received_at=NOW)
    fields.update(overrides)
    return Appeal.create(**fields)


def test_handlers_see_the_caller_masked_with_the_name():
    caller = caller_for_handlers(_appeal())
    assert caller is not None
    assert caller.phone_masked == "138****1234"
    assert caller.name == "张先生"


@pytest.mark.parametrize("overrides", [
    {"confidential": True},
    {"anonymous": True, "caller_name": None},
    {"appeal_type": AppealType.REPORT},
    {"appeal_type": "举报"},
])
def test_a_confidential_anonymous_or_report_appeal_carries_no_caller(overrides):
    assert caller_for_handlers(_appeal(**overrides)) is None


def test_the_stored_row_with_a_plain_string_appeal_type_is_protected_too():
    @dataclass
    class Row:
        caller_phone: str | None = "13812341234"
        caller_name: str | None = "李女士"
        appeal_type: str = "report"
        confidential: bool = False
        anonymous: bool = False

    assert caller_for_handlers(Row()) is None
    assert caller_for_handlers(Row(appeal_type="complaint")).phone_masked == "138****1234"


def test_an_appeal_without_a_number_has_no_caller_to_show():
    assert caller_for_handlers(_appeal(caller_phone=None)) is None
