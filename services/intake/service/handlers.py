"""Intake's service layer: the one door. Normalise, validate, locate, publish (or hold, or reject)."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import or_, select

from services.intake.adapters.grid_client import GridLocation
from services.intake.adapters.orm import Incident, Open311Request, OrderStatus, metadata
from services.intake.domain import open311
from services.intake.domain.normalise import (
    DetectionPolicy,
    DetectionReport,
    IntakeRejected,
    accept,
    category_group,
    clean_text,
    emergency_flag,
    from_detection,
    from_open311,
    held_for_review,
    normalise_report,
)
from shared import idempotency, metrics
from shared.apikeys import ApiKey
from shared.categories import Category, CategoryTable
from shared.counters import next_number
from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_HELD, INCIDENT_REPORTED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import (
    Coordinates,
    IncidentReported,
    LocatedBy,
    Location,
    OrderChanged,
    Urgency,
)
from shared.projection import Applied, supersedes
from shared.roles import Role
from shared.uow import UnitOfWork

log = logging.getLogger("mcc.intake")

CONSUMER_REPORTED = "intake-reported"
CONSUMER_ORDERS = "intake-orders"
IDEMPOTENCY = metadata.tables["idempotency_key"]
COUNTERS = metadata.tables["counter"]
MAX_QUEUE = 500


class Locator(Protocol):
    async def locate(self, lon: float, lat: float) -> GridLocation: ...


class AddressMatcher(Protocol):
    def match(self, text: str) -> Any: ...


@dataclass(frozen=True)
class Reference:
    """What intake checks reports against: the category table, the detection policy, unit names."""

    categories: CategoryTable
    policy: DetectionPolicy = field(default_factory=DetectionPolicy)
    unit_names: Mapping[str, str] = field(default_factory=dict)


class NotFound(LookupError):
    pass


class Conflict(Exception):
    pass


class Forbidden(PermissionError):
    pass


async def locate(report: IncidentReported, *, locator: Locator,
                 places: AddressMatcher | None = None) -> tuple[Location, LocatedBy]:
    """Where the incident is: grid codes the channel knew, else coordinates, else the address's place names."""
    loc = report.location
    if loc.town_code:
        return loc, LocatedBy.GRID
    if loc.coordinates is not None:
        found = await locator.locate(loc.coordinates.lon, loc.coordinates.lat)
        located = loc.model_copy(update={"grid_code": found.grid_code, "village_code": found.village_code,
                                         "town_code": found.town_code, "county_code": found.county_code})
        return located, LocatedBy(found.located_by)
    if loc.address and places is not None and (match := places.match(loc.address)) is not None:
        located = loc.model_copy(update={"village_code": match.village_code, "town_code": match.town_code,
                                         "county_code": match.county_code})
        return located, LocatedBy.ADDRESS
    return loc, LocatedBy.UNLOCATED


def _row(report: IncidentReported, *, status: str, location: Location, located_by: LocatedBy, now: datetime,
         reason: str | None = None, keep_report: bool = False) -> Incident:
    return Incident(
        id=report.incident_id, channel=report.channel.value, source_ref=report.source_ref,
        appeal_type=report.appeal_type.value, category_code=report.category_code,
        urgency=(report.urgency or Urgency.NORMAL).value, status=status, located_by=located_by.value,
        grid_code=location.grid_code, village_code=location.village_code, town_code=location.town_code,
        county_code=location.county_code, reason=reason[:500] if reason else None, reported_at=report.reported_at,
        accepted_at=now, report=report.model_dump(mode="json") if keep_report else None)


def _count_accepted(report: IncidentReported) -> None:
    metrics.APPEALS_RECEIVED.labels(report.channel.value, report.appeal_type.value,
                                    category_group(report.category_code)).inc()


async def handle_incident_reported(event: CloudEvent[Any], *, uow: UnitOfWork, locator: Locator,
                                   reference: Reference, places: AddressMatcher | None = None) -> None:
    """Accept one reported incident once: validated and located for dispatch, held for review, or rejected."""
    raw: IncidentReported = event.data
    category = reference.categories.get(raw.category_code)
    try:
        report = normalise_report(raw, category=category)
    except IntakeRejected as exc:
        # Not dead-lettered: the message is well-formed, the content is not dispatchable. A rejected row keeps
        # the reason where a dispatcher can list it (GET /api/v1/incidents?status=rejected).
        await _record_rejected(event, uow=uow, report=raw, reason=f"{exc.field}: {exc.message}")
        return
    location, located_by = await locate(report, locator=locator, places=places)  # network: outside the transaction
    route = reference.policy.route(report.detection) if report.detection is not None else None
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_REPORTED, event_id=event.id):
            return
        if await uow.session.get(Incident, report.incident_id) is not None:
            await uow.commit()  # the same incident under another event id: record the event, nothing else
            return
        now = utcnow()
        flag = emergency_flag(report, category)
        if route is not None and not route.dispatch:
            located = report.model_copy(update={"location": location})
            held = held_for_review(located, route=route)
            uow.session.add(_row(located, status="held", location=location, located_by=located_by, now=now,
                                 reason=held.reason, keep_report=True))
            await uow.emit(INCIDENT_HELD, held, subject=report.incident_id)
            await uow.commit()
            metrics.DETECTIONS.labels("review").inc()
            return
        uow.session.add(_row(report, status="accepted", location=location, located_by=located_by, now=now,
                             reason=flag))
        await uow.emit(INCIDENT_ACCEPTED, accept(report, location=location, located_by=located_by, accepted_at=now),
                       subject=report.incident_id)
        await uow.commit()
    _count_accepted(report)
    if report.detection is not None:
        metrics.DETECTIONS.labels("dispatched").inc()


async def _record_rejected(event: CloudEvent[Any], *, uow: UnitOfWork, report: IncidentReported,
                           reason: str) -> None:
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_REPORTED, event_id=event.id):
            return
        if await uow.session.get(Incident, report.incident_id) is None:
            uow.session.add(_row(report, status="rejected", location=report.location,
                                 located_by=LocatedBy.UNLOCATED, now=utcnow(), reason=reason))
            log.warning("incident %s rejected: %s", report.incident_id, reason)
        await uow.commit()


async def get_incident(uow: UnitOfWork, *, incident_id: str) -> Incident | None:
    """One incident as intake recorded it."""
    async with uow:
        return await uow.session.get(Incident, incident_id)


# --- the review queue (待核实) ----------------------------------------------------------------------------


def _may_review(role: Role, unit_code: str, incident: Incident) -> bool:
    # The city reviews everything; a county reviews what lies in it, and what could not be placed at all.
    if role in (Role.CITY, Role.ADMIN):
        return True
    return role is Role.COUNTY and incident.county_code in (unit_code, None)


async def list_incidents(uow: UnitOfWork, *, status: str, role: Role, unit_code: str,
                         limit: int = MAX_QUEUE) -> list[Incident]:
    """Held (or rejected) incidents this dispatcher may see, oldest first."""
    async with uow:
        query = select(Incident).where(Incident.status == status)
        if role is Role.COUNTY:
            query = query.where(or_(Incident.county_code == unit_code, Incident.county_code.is_(None)))
        rows = (await uow.session.execute(query.order_by(Incident.accepted_at).limit(limit))).scalars().all()
        return list(rows)


async def approve_held(uow: UnitOfWork, *, incident_id: str, role: Role, unit_code: str,
                       reviewer: str) -> Incident:
    """A person confirmed the detection: accept it and publish it for dispatch."""
    async with uow:
        row = await uow.session.get(Incident, incident_id, with_for_update=True)
        if row is None:
            raise NotFound(incident_id)
        if not _may_review(role, unit_code, row):
            raise Forbidden(f"{unit_code} does not review incidents in {row.county_code}")
        if row.status != "held" or row.report is None:
            raise Conflict(f"incident {incident_id} is {row.status}, not held for review")
        report = IncidentReported.model_validate(row.report)
        now = utcnow()
        accepted = accept(report, location=report.location, located_by=LocatedBy(row.located_by), accepted_at=now)
        row.status, row.reviewed_by, row.reviewed_at, row.report = "accepted", reviewer, now, None
        row.reason = f"人工核实通过 (approved by {reviewer})"
        await uow.emit(INCIDENT_ACCEPTED, accepted, subject=incident_id)
        await uow.commit()
    _count_accepted(report)
    metrics.DETECTIONS.labels("approved").inc()
    return row


async def reject_held(uow: UnitOfWork, *, incident_id: str, role: Role, unit_code: str, reviewer: str,
                      reason: str) -> Incident:
    """A person found the detection false: it is never dispatched; the reason stays on the record."""
    async with uow:
        row = await uow.session.get(Incident, incident_id, with_for_update=True)
        if row is None:
            raise NotFound(incident_id)
        if not _may_review(role, unit_code, row):
            raise Forbidden(f"{unit_code} does not review incidents in {row.county_code}")
        if row.status != "held":
            raise Conflict(f"incident {incident_id} is {row.status}, not held for review")
        row.status, row.reviewed_by, row.reviewed_at, row.report = "rejected", reviewer, utcnow(), None
        row.reason = f"人工核实驳回: {reason}"[:500]
        await uow.commit()
    metrics.DETECTIONS.labels("rejected").inc()
    return row


# --- machine detections (遥感, sensors) ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DetectionInput:
    detector: str
    confidence: float
    evidence_url: str
    category_code: str
    coordinates: Coordinates | None = None
    grid_code: str | None = None
    description: str | None = None
    source: str | None = None
    detection_id: str | None = None
    detected_at: datetime | None = None


async def submit_detection(*, new_uow: Any, detection: DetectionInput, key: ApiKey, idempotency_key: str,
                           fingerprint: str, reference: Reference) -> idempotency.Stored:
    """Validate a detection and hand it to the one door (IncidentReported through the outbox), once per key."""
    category = reference.categories.get(detection.category_code)
    if key.scope_unit and detection.grid_code and not detection.grid_code.startswith(key.scope_unit):
        raise Forbidden(f"this key reports for {key.scope_unit} only, not grid {detection.grid_code}")
    detection_id = detection.detection_id or uuid.uuid4().hex
    report = from_detection(DetectionReport(
        detection_id=detection_id, detector=detection.detector, confidence=detection.confidence,
        evidence_url=detection.evidence_url, category_code=detection.category_code,
        detected_at=detection.detected_at or utcnow(), coordinates=detection.coordinates,
        grid_code=detection.grid_code, description=detection.description), category=category)
    if detection.source:  # the kind of source (遥感, 传感器) names the reporter; the detector is its id
        report = report.model_copy(update={"reporter": report.reporter.model_copy(
            update={"name": detection.source[:50]})})
    route = reference.policy.route(report.detection)

    async def create(uow: UnitOfWork) -> tuple[int, Any]:
        await uow.emit(INCIDENT_REPORTED, report, subject=report.incident_id)
        return 202, {"incident_id": report.incident_id, "detection_id": detection_id,
                     "route": "dispatch" if route.dispatch else "review", "threshold": route.threshold,
                     "reason": route.reason}

    return await idempotency.run_once(new_uow, IDEMPOTENCY, scope=f"detections:{key.id}", key=idempotency_key,
                                      fingerprint=fingerprint, create=create)


# --- Open311 GeoReport v2 -----------------------------------------------------------------------------------


def group_name(categories: CategoryTable, category: Category) -> str:
    path = categories.path(category.code)
    return path[0].name if path else category.name


def open311_services(reference: Reference) -> list[dict[str, Any]]:
    """GET services: every leaf of the category table."""
    table = reference.categories
    out = []
    for category in table.leaves():
        path = table.path(category.code)
        description = " › ".join(c.name for c in path)
        if category.emergency_line:
            description += f"（正在发生的紧急情况请直接拨打 {category.emergency_line}）"
        out.append(open311.service_from_category(
            category, group=group_name(table, category), description=description,
            keywords=[c.name for c in path], attributes=open311.attributes_for(category.default_urgency)))
    return out


def open311_service(reference: Reference, *, service_code: str) -> tuple[Category, dict[str, Any]]:
    """GET services/{code}: the leaf category and its definition; 404 for anything else."""
    category = reference.categories.get(service_code)
    if category is None or reference.categories.children(category.code):
        raise open311.Open311Error(404, f"service_code {service_code!r} not found")
    return category, open311.service_definition(category, open311.attributes_for(category.default_urgency))


async def create_open311_request(*, new_uow: Any, request: open311.Open311Request, key: ApiKey,
                                 reference: Reference, idempotency_key: str | None,
                                 fingerprint: str) -> tuple[int, Any]:
    """POST requests: record the request and its IncidentReported in one transaction; answer the id at once."""
    category, definition = open311_service(reference, service_code=request.service_code)
    attributes = open311.check_attributes(request.attributes, definition["attributes"])
    received_at = utcnow()
    detail = attributes.get("detail")
    if detail:
        request = _with_description(request, detail if isinstance(detail, str) else " ".join(detail))
    try:
        # The id is not known yet; a placeholder validates the whole request before anything is written.
        from_open311(request, service_request_id="311-validation", category=category, received_at=received_at,
                     client_id=key.id)
    except IntakeRejected as exc:
        raise open311.Open311Error(400, f"{exc.field}: {exc.message}") from None
    urgency = attributes.get("urgency")

    async def create(uow: UnitOfWork) -> tuple[int, Any]:
        number = await next_number(uow.session, COUNTERS, prefix="311", day=received_at.strftime("%Y%m%d"),
                                   separator="-")
        report = from_open311(request, service_request_id=number, category=category, received_at=received_at,
                              client_id=key.id)
        if isinstance(urgency, str) and not emergency_flag(report, category):
            report = report.model_copy(update={"urgency": Urgency(urgency)})
        uow.session.add(Open311Request(
            service_request_id=number, incident_id=report.incident_id, service_code=category.code,
            description=open311_text(request.description), address=request.address_string,
            address_id=request.address_id, lat=request.lat, long=request.long, media_url=request.media_url,
            api_key_id=key.id, requested_at=received_at))
        await uow.emit(INCIDENT_REPORTED, report, subject=report.incident_id)
        notice = emergency_flag(report, category)
        return 201, open311.created_response(service_request_id=number, service_notice=notice)

    if idempotency_key is None:
        async with new_uow() as uow:
            status, body = await create(uow)
            await uow.commit()
            return status, body
    stored = await idempotency.run_once(new_uow, IDEMPOTENCY, scope=f"open311:{key.id}", key=idempotency_key,
                                        fingerprint=fingerprint, create=create)
    return stored.status_code, stored.body


def open311_text(text: str | None) -> str | None:
    return clean_text(text)[: open311.MAX_DESCRIPTION] or None


def _with_description(request: open311.Open311Request, detail: str) -> open311.Open311Request:
    text = f"{request.description}\n补充说明: {detail}" if request.description else detail
    return dataclasses.replace(request, description=text[: open311.MAX_DESCRIPTION])


def _view(reference: Reference, request: Open311Request, status: OrderStatus | None) -> dict[str, Any]:
    category = reference.categories.get(request.service_code)
    agency = reference.unit_names.get(status.unit_code, status.unit_code) \
        if status is not None and status.unit_code else None
    state = status.state if status is not None else None
    return open311.request_view(
        service_request_id=request.service_request_id, state=state or "accepted",
        service_code=request.service_code, service_name=category.name if category else None,
        description=request.description,
        status_notes=open311.status_notes(state=state, action=status.action if status else None, agency=agency,
                                          reason=status.reason if status else None),
        agency_responsible=agency, requested_datetime=request.requested_at,
        updated_datetime=status.updated_at if status is not None else request.requested_at,
        expected_datetime=status.handle_deadline if status is not None else None,
        address=request.address, lat=request.lat, long=request.long, media_url=request.media_url)


async def open311_requests(uow: UnitOfWork, *, query: open311.RequestQuery,
                           reference: Reference) -> list[dict[str, Any]]:
    """GET requests: newest first, filtered as the spec says, at most `query.limit`."""
    statement = select(Open311Request, OrderStatus).outerjoin(
        OrderStatus, OrderStatus.incident_id == Open311Request.incident_id)
    if query.service_request_ids:
        statement = statement.where(Open311Request.service_request_id.in_(query.service_request_ids))
    else:
        statement = statement.where(Open311Request.requested_at >= query.start,
                                    Open311Request.requested_at <= query.end)
        if query.service_codes:
            statement = statement.where(Open311Request.service_code.in_(query.service_codes))
        closed = OrderStatus.state.in_(sorted(open311.CLOSED_STATES))
        if query.status == "closed":
            statement = statement.where(closed)
        elif query.status == "open":
            statement = statement.where(or_(OrderStatus.state.is_(None), ~closed))
    statement = statement.order_by(Open311Request.requested_at.desc()).limit(query.limit)
    async with uow:
        rows = (await uow.session.execute(statement)).all()
    return [_view(reference, request, status) for request, status in rows]


async def open311_request(uow: UnitOfWork, *, service_request_id: str, reference: Reference) -> list[dict[str, Any]]:
    """GET requests/{id}: a one-element list, or 404."""
    found = await open311_requests(uow, query=open311.RequestQuery(service_request_ids=(service_request_id,),
                                                                   limit=1), reference=reference)
    if not found:
        raise open311.Open311Error(404, f"service_request_id {service_request_id!r} not found")
    return found


async def open311_token(uow: UnitOfWork, *, token: str) -> list[dict[str, Any]]:
    """GET tokens/{token}: we answer ids at once and issue no tokens, so a token is only ever a request id."""
    async with uow:
        found = await uow.session.get(Open311Request, token)
    if found is None:
        raise open311.Open311Error(404, f"token {token!r} not found")
    return open311.token_response(token=token, service_request_id=found.service_request_id)


# --- order status projection -----------------------------------------------------------------------------


async def handle_order_changed(event: CloudEvent[Any], *, uow: UnitOfWork) -> None:
    """Keep the latest transition of each incident's order, for Open311 status (out-of-order safe)."""
    change: OrderChanged = event.data
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_ORDERS, event_id=event.id):
            return
        row = await uow.session.get(OrderStatus, change.incident_id)
        if supersedes(change, Applied(row.order_id, row.version, row.updated_at) if row is not None else None):
            if row is None:
                row = OrderStatus(incident_id=change.incident_id, order_id=change.order_id,
                                  order_number=change.order_number, version=change.version, state=change.to_state.value,
                                  action=change.action, updated_at=change.occurred_at)
                uow.session.add(row)
            row.order_id, row.order_number, row.version = change.order_id, change.order_number, change.version
            row.state, row.action, row.updated_at = change.to_state.value, change.action, change.occurred_at
            row.unit_code = change.unit_code or row.unit_code
            row.reason = change.reason[:500] if change.reason else None
            if change.handle_deadline is not None:
                row.handle_deadline = change.handle_deadline
        await uow.commit()

