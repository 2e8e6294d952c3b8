"""Open311 GeoReport v2: discovery, service definitions, requests created and read back with their order status."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.intake.adapters.orm import Open311Request, OrderStatus
from services.intake.adapters.uow import IntakeUnitOfWork
from services.intake.domain import open311
from services.intake.domain.normalise import (
    IntakeRejected,
    clean_text,
    emergency_flag,
    from_open311,
)
from services.intake.service.handlers.common import (
    IDEMPOTENCY,
    Reference,
)
from services.intake.service.handlers.keyscope import OutOfScope, check_key_scope
from shared import idempotency
from shared.apikeys import ApiKey
from shared.categories import Category, CategoryTable
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import (
    Urgency,
)
from shared.retry import TransientError


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
    try:
        check_key_scope(from_open311(request, service_request_id="311-validation", category=category,
                                     received_at=received_at), key=key, reference=reference)
    except OutOfScope as exc:
        raise open311.Open311Error(403, f"api_key is scoped: {exc.message}") from None
    except TransientError:
        raise open311.Open311Error(503, "cannot place the request yet: try again shortly") from None
    urgency = attributes.get("urgency")

    async def create(uow: IntakeUnitOfWork) -> tuple[int, Any]:
        number = await uow.open311_requests.next_id(received_at.strftime("%Y%m%d"))
        report = from_open311(request, service_request_id=number, category=category, received_at=received_at,
                              client_id=key.id)
        if isinstance(urgency, str) and not emergency_flag(report, category):
            report = report.model_copy(update={"urgency": Urgency(urgency)})
        uow.open311_requests.add(Open311Request(
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
    try:
        stored = await idempotency.run_once(new_uow, IDEMPOTENCY, scope=f"open311:{key.id}", key=idempotency_key,
                                            fingerprint=fingerprint, create=create)
    except idempotency.IdempotencyConflict as exc:
        raise open311.Open311Error(400, str(exc)) from None  # the spec's error list, not the 422 elsewhere
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


async def open311_requests(uow: IntakeUnitOfWork, *, query: open311.RequestQuery,
                           reference: Reference) -> list[dict[str, Any]]:
    """GET requests: newest first, filtered as the spec says, at most `query.limit`."""
    async with uow:
        rows = await uow.open311_requests.search(query)
    return [_view(reference, request, status) for request, status in rows]


async def open311_request(uow: IntakeUnitOfWork, *, service_request_id: str, reference: Reference) -> list[dict[str, Any]]:
    """GET requests/{id}: a one-element list, or 404."""
    found = await open311_requests(uow, query=open311.RequestQuery(service_request_ids=(service_request_id,),
                                                                   limit=1), reference=reference)
    if not found:
        raise open311.Open311Error(404, f"service_request_id {service_request_id!r} not found")
    return found


async def open311_token(uow: IntakeUnitOfWork, *, token: str) -> list[dict[str, Any]]:
    """GET tokens/{token}: we answer ids at once and issue no tokens, so a token is only ever a request id."""
    async with uow:
        found = await uow.open311_requests.get(token)
    if found is None:
        raise open311.Open311Error(404, f"token {token!r} not found")
    return open311.token_response(token=token, service_request_id=found.service_request_id)
