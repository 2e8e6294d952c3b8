"""The one door: every channel's input becomes the same IncidentReported, then an IncidentAccepted.

Channels: the hotline (already an IncidentReported), the grid app (网格通), Open311 city apps, and machine
detections (remote sensing, sensors). Intake cleans the text, rejects what cannot become a work order,
fills in the category's default urgency, and parks doubtful machine detections for a person to review.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.intake.domain.open311 import Open311Request
from shared.events.v1 import (
    AppealType,
    CallerRef,
    Channel,
    Coordinates,
    Detection,
    IncidentAccepted,
    IncidentHeldForReview,
    IncidentReported,
    LocatedBy,
    Location,
    Reporter,
    Urgency,
)
from shared.phones import masked_for_contract

# Stable ids: the same record from the same channel is the same incident, however often it is redelivered.
_INCIDENT_NAMESPACE = uuid.UUID("6f1c3a52-6c1e-4b7e-9a4a-12345c0ffee0")
_SPACES = re.compile(r"[ \t\u00a0\u3000\u200b\u200c\u200d\ufeff]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_DESCRIPTION = 10_000
MAX_TITLE = 200
MAX_ADDRESS = 500


class IntakeRejected(ValueError):
    """The input cannot become an incident; `field` says which part is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CategoryLike(Protocol):
    """The part of a category record intake needs (shared/categories.Category fits)."""

    code: str
    name: str
    default_urgency: object  # an Urgency, its value, or None


def incident_id_for(channel: Channel | str, source_ref: str) -> str:
    """A stable incident id from the channel and the record's id there."""
    return str(uuid.uuid5(_INCIDENT_NAMESPACE, f"{Channel(channel).value}:{source_ref}"))


def clean_text(text: str | None) -> str:
    """Drop control characters, collapse spaces within lines (the ideographic space too), drop empty lines."""
    if not text:
        return ""
    text = _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def clean_description(text: str | None) -> str:
    """A description fit for a work order; raises IntakeRejected when nothing is left."""
    cleaned = clean_text(text)
    if not cleaned:
        raise IntakeRejected("description", "诉求内容不能为空 (empty description)")
    if len(cleaned) > MAX_DESCRIPTION:
        raise IntakeRejected("description", f"诉求内容过长 ({len(cleaned)} > {MAX_DESCRIPTION})")
    return cleaned


def _optional(text: str | None, field_name: str, limit: int) -> str | None:
    cleaned = clean_text(text)
    if len(cleaned) > limit:
        raise IntakeRejected(field_name, f"longer than {limit} characters")
    return cleaned or None


def resolve_urgency(given: Urgency | str | None, category: CategoryLike | None) -> Urgency:
    """The channel's urgency when it gave one, else the category's default, else normal."""
    if given is not None:
        return Urgency(getattr(given, "value", given))
    default = getattr(category, "default_urgency", None) if category is not None else None
    if default is not None:
        return Urgency(getattr(default, "value", default))
    return Urgency.NORMAL


def _check_category(category_code: str, category: CategoryLike | None) -> None:
    if category is None:
        raise IntakeRejected("category_code", f"未知的分类 {category_code!r} (unknown category)")
    if category.code != category_code:
        raise IntakeRejected("category_code", f"category record {category.code!r} is not {category_code!r}")


def category_group(category_code: str) -> str:
    """The big class (大类): the first two digits, a bounded metrics label."""
    return category_code[:2] if category_code[:2].isdigit() else "other"


def emergency_flag(report: IncidentReported, category: CategoryLike | None) -> str | None:
    """Why a non-hotline report in an emergency-line category (110/119/120/122) is flagged urgent, or None.

    The hotline hands such calls to the emergency line itself; an app, a grid worker or a sensor cannot, so
    intake still accepts the report (dropping it would lose a live emergency) but marks it urgent for the
    dispatcher, who calls the line.
    """
    line = getattr(category, "emergency_line", None) if category is not None else None
    if not line or report.channel is Channel.HOTLINE:
        return None
    return f"分类属于 {line} 紧急警情，非热线渠道受理后按紧急件处理，请同时联系 {line} (emergency category)"


def normalise_report(report: IncidentReported, *, category: CategoryLike | None) -> IncidentReported:
    """The report with clean text and an urgency set (the category's default when the channel gave none)."""
    _check_category(report.category_code, category)
    location = report.location
    address = _optional(location.address, "address", MAX_ADDRESS)
    if address != location.address:
        location = location.model_copy(update={"address": address})
    # No caller check here: the v1 contract's validator already refuses a caller on a 保密件 or a 举报.
    return report.model_copy(update={
        "description": clean_description(report.description),
        "title": _optional(report.title, "title", MAX_TITLE),
        "urgency": Urgency.URGENT if emergency_flag(report, category) else resolve_urgency(report.urgency, category),
        "location": location,
    })


def accept(report: IncidentReported, *, location: Location, located_by: LocatedBy,
           accepted_at: datetime) -> IncidentAccepted:
    """The accepted incident from a normalised report and where intake located it."""
    if report.urgency is None:
        raise ValueError("normalise the report first: an accepted incident always has an urgency")
    return IncidentAccepted(**report.model_dump(exclude={"urgency", "location"}), urgency=report.urgency,
                            location=location, located_by=located_by, accepted_at=accepted_at)


# --- the grid app (网格通) -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GridAppReport:
    """An event a grid worker (网格员) reports from the app while on patrol."""

    event_id: str
    reporter_id: str
    grid_code: str
    category_code: str
    description: str
    reported_at: datetime
    reporter_name: str | None = None
    title: str | None = None
    coordinates: Coordinates | None = None
    address: str | None = None
    urgency: Urgency | None = None
    appeal_type: AppealType = AppealType.HELP


def from_grid_app(report: GridAppReport, *, category: CategoryLike | None) -> IncidentReported:
    """A grid worker's report as an incident: the grid is already known, the worker is the reporter."""
    if not report.grid_code.strip():
        raise IntakeRejected("grid_code", "a grid report names its grid")
    raw = IncidentReported(
        incident_id=incident_id_for(Channel.GRID, report.event_id), channel=Channel.GRID,
        source_ref=report.event_id, appeal_type=report.appeal_type, category_code=report.category_code,
        title=report.title, description=clean_description(report.description), urgency=report.urgency,
        location=Location(coordinates=report.coordinates, address=report.address,
                          grid_code=report.grid_code.strip()),
        reporter=Reporter(id=report.reporter_id, name=report.reporter_name, role="grid_worker"),
        reported_at=report.reported_at)
    return normalise_report(raw, category=category)


# --- Open311 city apps -------------------------------------------------------------------------------


def from_open311(request: Open311Request, *, service_request_id: str, category: CategoryLike | None,
                 received_at: datetime, client_id: str | None = None,
                 incident_id: str | None = None) -> IncidentReported:
    """A GeoReport POST as an incident. The contract has no media field, so a media_url stays in the text.
    Intake numbers the request itself in the transaction that records it, so the incident id need not be
    derived from it: the caller passes a random one, and nobody can compute an incident id from a public
    service_request_id."""
    description = clean_text(request.description)
    if request.media_url:
        description = f"{description}\n图片: {request.media_url}" if description else f"图片: {request.media_url}"
    name = clean_text(" ".join(p for p in (request.last_name, request.first_name) if p)) or None
    caller = CallerRef(phone_masked=masked_for_contract(request.phone), name=name[:50] if name else None) \
        if request.phone else None
    coordinates = Coordinates(lon=request.long, lat=request.lat) \
        if request.lat is not None and request.long is not None else None
    raw = IncidentReported(
        incident_id=incident_id or str(uuid.uuid4()), channel=Channel.OPEN311,
        source_ref=service_request_id, appeal_type=AppealType.HELP, category_code=request.service_code,
        description=clean_description(description),
        location=Location(coordinates=coordinates, address=request.address_string), caller=caller,
        reporter=Reporter(id=client_id, role="open311_client") if client_id else None,
        reported_at=received_at)
    return normalise_report(raw, category=category)


# --- machine detections (遥感, sensors) ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DetectionReport:
    """One machine detection: what, where, how sure, and the evidence a person can check."""

    detection_id: str
    detector: str
    confidence: float
    evidence_url: str
    category_code: str
    detected_at: datetime
    coordinates: Coordinates | None = None
    grid_code: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class DetectionRoute:
    dispatch: bool
    threshold: float
    reason: str | None = None  # why it went to review


@dataclass(frozen=True)
class DetectionPolicy:
    """Below `min_confidence` (or the detector's own threshold) a detection waits for a person (待核实)."""

    min_confidence: float = 0.8
    overrides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in {"min_confidence": self.min_confidence, **self.overrides}.items():
            if not 0 <= value <= 1:
                raise ValueError(f"confidence threshold for {name} must be within [0, 1]: {value}")

    def threshold(self, detector: str) -> float:
        return self.overrides.get(detector, self.min_confidence)

    def route(self, detection: Detection | DetectionReport) -> DetectionRoute:
        """Dispatch a confident detection; send the rest to the review queue with the reason."""
        threshold = self.threshold(detection.detector)
        if detection.confidence >= threshold:
            return DetectionRoute(True, threshold)
        return DetectionRoute(False, threshold,
                              f"置信度 {detection.confidence:.2f} 低于 {threshold:.2f}，待人工核实 "
                              f"(confidence below the {detection.detector} threshold)")


def from_detection(report: DetectionReport, *, category: CategoryLike | None) -> IncidentReported:
    """A detection as an incident; the description says what was seen when the detector gave none."""
    _check_category(report.category_code, category)
    detection = Detection(detector=report.detector, confidence=report.confidence,
                          evidence_url=report.evidence_url)
    if report.coordinates is None and not report.grid_code:
        raise IntakeRejected("location", "a detection without coordinates or a grid cannot be located")
    description = clean_text(report.description) or (
        f"{report.detector} 检测到疑似{category.name}（置信度 {report.confidence:.2f}），证据: {report.evidence_url}")
    raw = IncidentReported(
        incident_id=incident_id_for(Channel.DETECTION, report.detection_id), channel=Channel.DETECTION,
        source_ref=report.detection_id, appeal_type=AppealType.HELP, category_code=report.category_code,
        description=clean_description(description),
        location=Location(coordinates=report.coordinates, grid_code=report.grid_code),
        reporter=Reporter(id=report.detector, role="detector"), detection=detection,
        reported_at=report.detected_at)
    return normalise_report(raw, category=category)


def outside_city(*, distance_m: float | None, limit_m: float, nearest_town: str | None) -> str | None:
    """Why a point is not dispatched to the nearest town's guess (None: near enough to trust it)."""
    if distance_m is None or distance_m <= limit_m:
        return None
    return (f"位置在市域外：距最近的网格 {distance_m / 1000:.1f} 公里（最近镇街 {nearest_town or '无'}），待人工核实 "
            f"(outside the city: {distance_m:.0f} m from the nearest grid, more than {limit_m:.0f} m)")


def held_outside_city(report: IncidentReported, *, reason: str) -> IncidentHeldForReview:
    """The event that parks a report located outside the city in the review queue instead of dispatching it."""
    return IncidentHeldForReview(incident_id=report.incident_id, detection=report.detection,
                                 category_code=report.category_code, location=report.location, reason=reason)


def held_for_review(report: IncidentReported, *, route: DetectionRoute) -> IncidentHeldForReview:
    """The event that parks a doubtful detection in the review queue instead of dispatching it."""
    if report.detection is None:
        raise ValueError("only machine detections are held for review")
    if route.dispatch:
        raise ValueError("this detection is confident enough to dispatch")
    return IncidentHeldForReview(incident_id=report.incident_id, detection=report.detection,
                                 category_code=report.category_code, location=report.location,
                                 reason=route.reason or "low confidence")
