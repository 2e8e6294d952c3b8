"""Intake's pure rules added for the one door: emergency flags, Open311 attributes, status notes, XML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest

from services.intake.domain.normalise import category_group, emergency_flag, normalise_report
from services.intake.domain.open311 import (
    URGENCY_ATTRIBUTE,
    Open311Error,
    attributes_for,
    check_attributes,
    parse_attributes,
    status_from_order_state,
    status_notes,
)
from services.intake.entrypoints.formats import to_xml
from shared.events.v1 import Channel, IncidentReported, Location, Urgency

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    default_urgency: str | None = "normal"
    emergency_line: str | None = None


GAS = Category("060101", "燃气泄漏", "urgent", "119")
LIGHTS = Category("010201", "路灯不亮")


def report(channel: Channel, category: str, urgency: Urgency | None = None) -> IncidentReported:
    return IncidentReported(incident_id="i-1", channel=channel, source_ref="r-1", category_code=category,
                            description="闻到煤气味", location=Location(address="人民路"), urgency=urgency,
                            reported_at=NOW)


def test_an_emergency_category_from_an_app_is_urgent_even_when_the_app_said_normal():
    flagged = normalise_report(report(Channel.OPEN311, "060101", Urgency.NORMAL), category=GAS)
    assert flagged.urgency is Urgency.URGENT
    assert "119" in emergency_flag(flagged, GAS)


def test_the_hotline_is_not_flagged_because_it_hands_emergencies_over_itself():
    assert emergency_flag(report(Channel.HOTLINE, "060101"), GAS) is None
    assert normalise_report(report(Channel.HOTLINE, "060101", Urgency.NORMAL), category=GAS).urgency is Urgency.NORMAL
    assert emergency_flag(report(Channel.GRID, "010201"), LIGHTS) is None


def test_the_category_group_is_the_two_digit_big_class():
    assert category_group("010201") == "01" and category_group("17") == "17" and category_group("x1") == "other"


def test_urgent_by_default_categories_ask_nothing_and_the_others_offer_urgency_and_detail():
    assert attributes_for("urgent") == ()
    assert [a["code"] for a in attributes_for("normal")] == ["urgency", "detail"]


def test_attribute_values_are_checked_against_the_definition():
    attributes = attributes_for("normal")
    assert check_attributes({"urgency": "urgent", "detail": "3 号楼"}, attributes) == {
        "urgency": "urgent", "detail": "3 号楼"}
    assert check_attributes({"urgency": ""}, attributes) == {}
    for given, words in (({"urgency": "asap"}, "one of"), ({"size": "1"}, "not an attribute"),
                         ({"detail": "x" * 501}, "500"), ({"urgency": ["urgent", "normal"]}, "one value")):
        with pytest.raises(Open311Error, match=words) as raised:
            check_attributes(given, attributes)
        assert raised.value.code == 400


def test_a_required_attribute_must_be_given_and_a_multivaluelist_takes_several():
    required = [{**URGENCY_ATTRIBUTE, "required": True}]
    with pytest.raises(Open311Error, match="required"):
        check_attributes({}, required)
    multi = [{**URGENCY_ATTRIBUTE, "datatype": "multivaluelist"}]
    assert check_attributes({"urgency": ["urgent", "normal"]}, multi) == {"urgency": ["urgent", "normal"]}
    with pytest.raises(Open311Error, match="not in its list"):
        check_attributes({"urgency": ["soon"]}, multi)


def test_form_attributes_are_read_in_both_of_the_specs_shapes():
    pairs = [("attribute[urgency]", "urgent"), ("attribute[kinds][]", "a"), ("attribute[kinds][]", "b"),
             ("description", "x")]
    assert parse_attributes(pairs) == {"urgency": "urgent", "kinds": ["a", "b"]}
    with pytest.raises(Open311Error, match="malformed"):
        parse_attributes([("attribute[oops", "1")])


@pytest.mark.parametrize(("state", "action", "words"), [
    (None, None, "已受理"), ("dispatched", "dispatch", "已派单（和平街道）"), ("signed", "sign", "签收"),
    ("in_progress", "reopen", "重新办理"), ("closed", "close", "已办结"), ("followed_up", "follow_up", "回访"),
    ("in_progress", "escalate", "提级"),
])
def test_status_notes_say_what_happened_and_who_holds_it(state, action, words):
    assert words in status_notes(state=state, action=action, agency="和平街道")


def test_a_followed_up_order_is_closed_for_open311():
    assert status_from_order_state("followed_up") == "closed"
    assert status_from_order_state("return_requested") == "open"


def test_xml_uses_the_specs_element_names_for_lists():
    root = ET.fromstring(to_xml("service_definition", {"service_code": "1", "attributes": [
        {"code": "u", "variable": True, "values": [{"key": "a", "name": "A"}]}]}))
    assert root.find("attributes/attribute/variable").text == "true"
    assert root.find("attributes/attribute/values/value/name").text == "A"
    errors = ET.fromstring(to_xml("errors", [{"code": 400, "description": "坏了", "extra": None}]))
    assert errors.find("error/description").text == "坏了" and errors.find("error/extra").text is None
