"""One masking rule for every service: hotline's callers, intake's Open311 callers, grid's members."""

from __future__ import annotations

import pytest

from shared.events.v1 import MASKED_PHONE, CallerRef
from shared.phones import mask_phone, masked_for_contract


@pytest.mark.parametrize(("raw", "masked"), [
    ("13912345678", "139****5678"),
    ("+86 139 1234 5678", "139****5678"),
    ("8613912345678", "139****5678"),
    ("0513-85123456", "0513****3456"),
    ("(010) 6234 5678", "010****5678"),
])
def test_a_recognised_number_shows_only_its_prefix_and_last_four_digits_in_the_event_contract_form(raw, masked):
    assert mask_phone(raw) == masked
    assert masked_for_contract(raw) == masked and CallerRef(phone_masked=masked_for_contract(raw))


@pytest.mark.parametrize("raw", ["12345678", "95 12 34", "1391234567", "", "abc"])
def test_an_unrecognised_number_is_masked_completely_so_no_digit_leaks(raw):
    for masked in (mask_phone(raw), masked_for_contract(raw)):
        assert set(masked) == {"*"} and len(masked) >= 4 and MASKED_PHONE.fullmatch(masked)
