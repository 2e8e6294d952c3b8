from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.intake.domain.open311 import (
    MAX_REQUESTS,
    Open311Error,
    created_response,
    error,
    parse_service_request,
    request_query,
    request_view,
    service_definition,
    service_from_category,
    status_from_order_state,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Category:
    code: str
    name: str


def test_a_category_is_offered_as_a_realtime_service():
    service = service_from_category(Category("030101", "路灯不亮"), group="市政设施",
                                    keywords=["路灯", "照明", "路灯", " "])
    assert service == {"service_code": "030101", "service_name": "路灯不亮", "description": "路灯不亮",
                       "metadata": False, "type": "realtime", "keywords": "路灯,照明", "group": "市政设施"}
    assert service_definition(Category("030101", "路灯不亮")) == {"service_code": "030101", "attributes": []}


@pytest.mark.parametrize(("state", "status"), [
    ("closed", "closed"), ("archived", "closed"), ("merged", "closed"), ("ARCHIVED", "closed"),
    ("accepted", "open"), ("dispatched", "open"), ("signed", "open"), ("reopened", "open"), (None, "open"),
])
def test_order_states_map_to_open_or_closed(state, status):
    assert status_from_order_state(state) == status


def test_errors_are_a_list_of_code_and_description():
    assert error(403, "invalid api_key") == [{"code": 403, "description": "invalid api_key"}]
    assert Open311Error(404, "no such service").errors() == [{"code": 404, "description": "no such service"}]


def test_a_valid_post_is_parsed_with_its_attributes():
    request = parse_service_request({"service_code": " 030101 ", "lat": "32.31", "long": "121.18",
                                     "description": "路灯不亮", "attribute[pole]": "A-17", "email": ""})
    assert (request.service_code, request.lat, request.long) == ("030101", 32.31, 121.18)
    assert request.attributes == {"pole": "A-17"}
    assert request.email is None


@pytest.mark.parametrize(("form", "message"), [
    ({"lat": "32.3", "long": "121.1"}, "service_code"),
    ({"service_code": "1", "lat": "32.3"}, "together"),
    ({"service_code": "1", "lat": "north", "long": "121"}, "not a number"),
    ({"service_code": "1", "lat": "95", "long": "121"}, "out of range"),
    ({"service_code": "1", "description": "x"}, "location"),
    ({"service_code": "1", "address_string": "a", "description": "长" * 4001}, "4000"),
])
def test_an_invalid_post_is_a_400_with_a_reason(form, message):
    with pytest.raises(Open311Error) as raised:
        parse_service_request(form)
    assert raised.value.code == 400
    assert message in raised.value.description


def test_a_post_answers_with_the_new_request_id():
    assert created_response(service_request_id="OR-1") == [
        {"service_request_id": "OR-1", "service_notice": None, "account_id": None}]


def test_a_query_without_dates_covers_the_last_90_days_and_at_most_1000_requests():
    query = request_query({}, now=NOW)
    assert (query.start, query.end, query.limit) == (NOW - timedelta(days=90), NOW, MAX_REQUESTS)
    assert MAX_REQUESTS == 1000


def test_a_query_with_one_date_extends_90_days_from_it():
    start = datetime(2026, 6, 1, tzinfo=UTC)
    assert request_query({"start_date": "2026-06-01T00:00:00Z"}, now=NOW).end == start + timedelta(days=90)
    assert request_query({"end_date": "2026-06-01T00:00:00Z"}, now=NOW).start == start - timedelta(days=90)


def test_a_query_range_over_90_days_or_backwards_is_refused():
    with pytest.raises(Open311Error, match="90 days"):
        request_query({"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"},
                      now=NOW)
    with pytest.raises(Open311Error, match="before"):
        request_query({"start_date": "2026-06-02T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, now=NOW)
    with pytest.raises(Open311Error, match="time zone"):
        request_query({"start_date": "2026-06-02T00:00:00"}, now=NOW)


def test_a_query_by_ids_ignores_every_other_filter():
    query = request_query({"service_request_id": "OR-1, OR-2,OR-1", "status": "bogus"}, now=NOW)
    assert query.service_request_ids == ("OR-1", "OR-2")
    assert query.start is None and query.status is None


def test_a_query_filters_by_status_and_service_codes():
    query = request_query({"status": "closed", "service_code": "0301,0302"}, now=NOW)
    assert (query.status, query.service_codes) == ("closed", ("0301", "0302"))
    with pytest.raises(Open311Error):
        request_query({"status": "pending"}, now=NOW)


def test_a_request_is_shown_with_open311_status_and_zoned_datetimes():
    cst = timezone(timedelta(hours=8))
    view = request_view(service_request_id="OR-1", state="archived", service_code="0301", service_name="路灯不亮",
                        requested_datetime=datetime(2026, 11, 20, 8, 15, 30, tzinfo=cst),
                        expected_datetime=datetime(2026, 11, 25, 17, 0, tzinfo=cst), lat=32.31, long=121.18)
    assert view["status"] == "closed"
    assert view["requested_datetime"] == "2026-11-20T08:15:30+08:00"
    assert view["expected_datetime"] == "2026-11-25T17:00:00+08:00"
    assert view["updated_datetime"] is None
    with pytest.raises(ValueError, match="time zone"):
        request_view(service_request_id="OR-1", state="open", service_code="0301",
                     requested_datetime=datetime(2026, 11, 20, 8, 15))
