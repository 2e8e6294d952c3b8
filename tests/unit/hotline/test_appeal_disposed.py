"""The AppealDisposed contract and the hotline's scrubbing of the caller's number from free text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.hotline.service.appeals import _scrub
from shared.events.catalog import APPEAL_DISPOSED, EVENTS_BY_SUBJECT
from shared.events.v1 import AppealDisposed

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_appeal_disposed_is_registered_on_the_hotline_stream():
    assert APPEAL_DISPOSED.subject == "mcc.hotline.appeal_disposed"
    assert APPEAL_DISPOSED.stream == "MCC_HOTLINE"
    assert EVENTS_BY_SUBJECT["mcc.hotline.appeal_disposed"] is APPEAL_DISPOSED


def test_appeal_disposed_has_no_room_for_a_caller():
    with pytest.raises(ValidationError):
        AppealDisposed(appeal_number="12345-20261123-000001", disposition="answered", appeal_type="consultation",
                       category_code="0402", occurred_at=NOW, caller_phone="13812341234")


@pytest.mark.parametrize("disposition", ["dispatched", "answered", "emergency", "out_of_scope", "linked"])
def test_every_disposition_is_a_valid_value(disposition):
    event = AppealDisposed(appeal_number="n", disposition=disposition, appeal_type="help", category_code="01",
                           occurred_at=NOW)
    assert event.disposition.value == disposition


def test_an_emergency_line_outside_the_four_is_refused():
    with pytest.raises(ValidationError):
        AppealDisposed(appeal_number="n", disposition="emergency", appeal_type="help", category_code="01",
                       emergency_line="999", occurred_at=NOW)


@pytest.mark.parametrize("typed", ["13812341234", "138 1234 1234", "138-1234-1234", "1 3 8 1 2 3 4 1 2 3 4"])
def test_the_callers_own_number_in_the_text_is_masked_however_it_was_typed(typed):
    assert _scrub(f"回电{typed}谢谢", "13812341234", protected=False) == "回电138****1234谢谢"
    assert _scrub(f"回电{typed}谢谢", "13812341234", protected=True) == "回电[来电号码已隐藏]谢谢"


def test_other_numbers_in_the_text_are_left_alone():
    assert _scrub("门牌138号，电话13812341235", "13812341234", protected=False) == "门牌138号，电话13812341235"
    assert _scrub("0513-85123456", "0513-85123456", protected=False) == "0513****3456"
