from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.intake.domain.normalise import (
    DetectionPolicy,
    DetectionReport,
    GridAppReport,
    IntakeRejected,
    accept,
    clean_text,
    from_detection,
    from_grid_app,
    from_open311,
    held_for_review,
    incident_id_for,
    normalise_report,
    resolve_urgency,
)
from services.intake.domain.open311 import parse_service_request
from shared.events.v1 import (
    MASKED_PHONE,
    AppealType,
    Attachment,
    CallerRef,
    Channel,
    Coordinates,
    IncidentReported,
    LocatedBy,
    Location,
    Urgency,
)

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    default_urgency: str | None = None


LIGHTS = Category("0301", "路灯故障")
WATER = Category("0501", "停水", default_urgency="urgent")
DUMPING = Category("0701", "垃圾乱堆")


def hotline_report(**overrides):
    fields = dict(incident_id="inc-1", channel=Channel.HOTLINE, source_ref="12345-20261122-000001",
                  category_code="0301", description="  路灯 \u3000不亮\r\n\n  已经三天 ",
                  location=Location(address="  掘港街道  人民路 "), reported_at=NOW,
                  caller=CallerRef(phone_masked="138****1234"))
    fields.update(overrides)
    return IncidentReported(**fields)


def test_text_is_trimmed_and_inner_spaces_collapsed_line_by_line():
    assert clean_text(" a \t b\u3000c \r\n\r\n d\x07 ") == "a b c\nd"
    assert clean_text(None) == ""


def test_a_report_is_cleaned_and_keeps_its_caller():
    report = normalise_report(hotline_report(), category=LIGHTS)
    assert report.description == "路灯 不亮\n已经三天"
    assert report.location.address == "掘港街道 人民路"
    assert report.caller.phone_masked == "138****1234"


def test_without_an_urgency_the_category_default_applies():
    assert normalise_report(hotline_report(category_code="0501"), category=WATER).urgency is Urgency.URGENT
    assert normalise_report(hotline_report(), category=LIGHTS).urgency is Urgency.NORMAL


def test_an_urgency_the_channel_gave_wins_over_the_category_default():
    report = normalise_report(hotline_report(category_code="0501", urgency=Urgency.NORMAL), category=WATER)
    assert report.urgency is Urgency.NORMAL
    assert resolve_urgency("urgent", None) is Urgency.URGENT


def test_a_description_of_only_whitespace_is_rejected():
    with pytest.raises(IntakeRejected) as raised:
        normalise_report(hotline_report(description=" \u3000 \n "), category=LIGHTS)
    assert raised.value.field == "description"


def test_an_unknown_or_mismatched_category_is_rejected():
    with pytest.raises(IntakeRejected, match="category_code"):
        normalise_report(hotline_report(), category=None)
    with pytest.raises(IntakeRejected, match="category_code"):
        normalise_report(hotline_report(), category=WATER)


def test_the_accepted_incident_carries_the_reports_photos_to_the_work_order():
    photo = Attachment(id="a" * 64, content_type="image/jpeg", size=1234, kind="photo")
    report = normalise_report(hotline_report(attachments=(photo,)), category=LIGHTS)
    accepted = accept(report, location=report.location, located_by=LocatedBy.ADDRESS, accepted_at=NOW)
    assert accepted.attachments == (photo,)


def test_the_accepted_incident_carries_location_and_how_it_was_found():
    report = normalise_report(hotline_report(), category=LIGHTS)
    located = report.location.model_copy(update={"town_code": "320623001", "county_code": "320623"})
    accepted = accept(report, location=located, located_by=LocatedBy.ADDRESS, accepted_at=NOW)
    assert accepted.location.town_code == "320623001"
    assert accepted.located_by is LocatedBy.ADDRESS
    assert accepted.urgency is Urgency.NORMAL
    with pytest.raises(ValueError, match="normalise"):
        accept(hotline_report(), location=located, located_by=LocatedBy.ADDRESS, accepted_at=NOW)


def test_a_grid_workers_report_keeps_the_grid_and_names_the_worker():
    report = from_grid_app(GridAppReport(event_id="ev-77", reporter_id="gw-1024", reporter_name="陈网格",
                                         grid_code="320623001001003", category_code="0701",
                                         description=" 河边有人倾倒建筑垃圾 ", reported_at=NOW,
                                         coordinates=Coordinates(lon=121.19, lat=32.32)), category=DUMPING)
    assert report.channel is Channel.GRID
    assert report.location.grid_code == "320623001001003"
    assert (report.reporter.id, report.reporter.role) == ("gw-1024", "grid_worker")
    assert report.description == "河边有人倾倒建筑垃圾"
    assert report.incident_id == incident_id_for(Channel.GRID, "ev-77")


def test_the_same_record_redelivered_gets_the_same_incident_id_and_other_channels_do_not():
    assert incident_id_for("grid", "ev-77") == incident_id_for(Channel.GRID, "ev-77")
    assert incident_id_for(Channel.OPEN311, "ev-77") != incident_id_for(Channel.GRID, "ev-77")


def test_an_open311_request_becomes_an_incident_with_the_phone_masked():
    request = parse_service_request({
        "service_code": "0301", "lat": "32.31", "long": "121.18", "description": "路灯不亮",
        "phone": "13812341234", "first_name": "明", "last_name": "李", "media_url": "https://img.example/1.jpg"})
    report = from_open311(request, service_request_id="OR-9", category=LIGHTS, received_at=NOW, client_id="baitong")
    assert report.channel is Channel.OPEN311
    assert report.caller.phone_masked == "138****1234"
    assert MASKED_PHONE.fullmatch(report.caller.phone_masked)
    assert report.caller.name == "李 明"
    assert report.location.coordinates == Coordinates(lon=121.18, lat=32.31)
    assert "https://img.example/1.jpg" in report.description
    assert report.reporter.id == "baitong"


def test_an_open311_request_without_any_text_is_rejected():
    request = parse_service_request({"service_code": "0301", "address_string": "人民路1号"})
    with pytest.raises(IntakeRejected):
        from_open311(request, service_request_id="OR-10", category=LIGHTS, received_at=NOW)


def detection(confidence, detector="rs-sentinel"):
    return DetectionReport(detection_id="det-5", detector=detector, confidence=confidence,
                           evidence_url="https://rs.example/tiles/5.png", category_code="0701", detected_at=NOW,
                           coordinates=Coordinates(lon=121.2, lat=32.3))


def test_a_confident_detection_is_dispatched_and_a_doubtful_one_goes_to_review():
    policy = DetectionPolicy(min_confidence=0.8)
    assert policy.route(detection(0.85)).dispatch
    assert policy.route(detection(0.8)).dispatch
    route = policy.route(detection(0.62))
    assert not route.dispatch
    assert "0.62" in route.reason and "0.80" in route.reason


def test_each_detector_may_have_its_own_threshold():
    policy = DetectionPolicy(min_confidence=0.8, overrides={"smoke-sensor": 0.5})
    assert policy.route(detection(0.6, "smoke-sensor")).dispatch
    assert not policy.route(detection(0.6, "rs-sentinel")).dispatch
    with pytest.raises(ValueError):
        DetectionPolicy(overrides={"x": 1.5})


def test_a_detection_becomes_an_incident_with_its_evidence_and_a_readable_description():
    report = from_detection(detection(0.62), category=DUMPING)
    assert report.channel is Channel.DETECTION
    assert report.detection.evidence_url == "https://rs.example/tiles/5.png"
    assert "垃圾乱堆" in report.description and "0.62" in report.description
    assert report.appeal_type is AppealType.HELP


def test_a_doubtful_detection_is_held_for_review_with_the_reason():
    report = from_detection(detection(0.62), category=DUMPING)
    held = held_for_review(report, route=DetectionPolicy().route(report.detection))
    assert held.incident_id == report.incident_id
    assert held.detection.confidence == 0.62
    assert "待人工核实" in held.reason
    with pytest.raises(ValueError):
        held_for_review(report, route=DetectionPolicy(min_confidence=0.5).route(report.detection))


def test_a_detection_with_no_place_at_all_is_rejected():
    unplaced = DetectionReport(detection_id="d", detector="x", confidence=0.9, evidence_url="https://e",
                               category_code="0701", detected_at=NOW)
    with pytest.raises(IntakeRejected, match="location"):
        from_detection(unplaced, category=DUMPING)
