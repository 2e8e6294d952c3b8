"""Dispatch HTTP API: thin routes that parse, call a handler and answer.

Every route needs a bearer token. A dispatcher sees only its own tier's orders: another town's order answers
404 exactly like a missing one. Every read of an order is written to the access log. Refusals (404, 403, 409
with the state and the caller's allowed actions, 422) are raised by the handlers and answered by shared/http.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.dispatch.domain.lifecycle import (
    Action,
    Actor,
    FollowUp,
    OrderState,
)
from services.dispatch.domain.sla import CHINA_TZ, Duration
from services.dispatch.service import handlers
from services.dispatch.service.read_models import WorkOrderBase
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.deps import UowDep
from shared.events.envelope import utcnow
from shared.roles import Role

router = APIRouter(prefix="/api/v1")

ORDER_ROLES = (Role.OPERATOR, Role.TOWN, Role.COUNTY, Role.CITY, Role.DEPARTMENT)
OrderReader = Annotated[Principal, require_roles(*ORDER_ROLES)]
CityReader = Annotated[Principal, require_roles(Role.CITY, Role.ADMIN, citywide=True)]
Admin = Annotated[Principal, require_roles(Role.ADMIN, citywide=True)]  # the tree is the whole city's


async def get_holder(request: Request) -> handlers.PolicyHolder:
    return request.app.state.policy


HolderDep = Annotated[handlers.PolicyHolder, Depends(get_holder)]


# --- shapes -------------------------------------------------------------------------------------------------


class AttachmentOut(BaseModel):
    id: str
    content_type: str
    size: int
    kind: str = Field(description="photo, after_photo (grid), document, evidence (attached on close)")
    added_at: str | None = None
    added_by: str | None = None

    @field_validator("added_at", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value


class WorkOrderPublic(WorkOrderBase):
    """An order as handling units see it: the caller only masked, and not at all on confidential orders
    and reports (the incident never carried it)."""

    id: str
    caller: dict[str, Any] | None = None
    attachments: list[AttachmentOut] = Field(default_factory=list, description="photos and documents; bytes at "
                                             "/api/v1/orders/{number}/attachments/{id}")

    @field_validator("attachments", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value
    reported_at: datetime
    created_at: datetime
    updated_at: datetime
    sign_deadline: datetime | None = None
    handle_deadline: datetime | None = None
    assigned_at: datetime | None = None
    dispatched_at: datetime | None = None
    signed_at: datetime | None = None
    closed_at: datetime | None = None
    time_left_s: float | None = Field(None, description="seconds until the running deadline (negative: overdue)")
    overdue: bool = False
    allowed_actions: list[str] | None = Field(None, description="what the caller of this API may do now")


class AuditPublic(BaseModel):
    action: str
    from_state: str | None
    to_state: str
    version: int
    actor: str
    actor_name: str | None = None
    actor_kind: str | None = Field(None, description="session (a signed-in person), script (a minted token), system")
    unit_code: str | None
    reason: str | None
    details: dict[str, Any]
    at: datetime
    event_id: str


class OrderWithHistory(WorkOrderPublic):
    history: list[AuditPublic]


class OrderPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[WorkOrderPublic]


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied"]
    resolved: bool | None = None
    unit_at_fault: bool | None = None


class ActionRequest(BaseModel):
    """The inputs an action may need; each action reads only its own (see docs/dispatch.md)."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=2000, description="退单/延期/改派/提级/驳回 need one")
    to_unit: str | None = Field(None, max_length=64, description="route, reassign: the unit to send it to")
    extension: str | None = Field(None, max_length=32, description="request/approve_extension, e.g. 3wd or 48h")
    result: str | None = Field(None, max_length=5000, description="close: 办理结果")
    evidence: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(default_factory=list, max_length=20)
    follow_up: FollowUpIn | None = None
    master: str | None = Field(None, max_length=64, description="merge: the master order's id or number")
    expected_version: int | None = Field(None, ge=0, description="refuse (409) if the order moved on meanwhile")

    @field_validator("extension")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            Duration.parse(value)
        return value


# --- helpers ------------------------------------------------------------------------------------------------


def _actor(principal: Principal) -> Actor:
    return Actor.of(principal)


def _public(row: Any, allowed: tuple[Action, ...] | None = None) -> dict[str, Any]:
    data = WorkOrderPublic.model_validate(row, from_attributes=True).model_dump()
    now = utcnow()
    deadline = row.sign_deadline if row.state == OrderState.DISPATCHED.value else (
        row.handle_deadline if row.state in (OrderState.SIGNED.value, OrderState.IN_PROGRESS.value) else None)
    if deadline is not None:
        data["time_left_s"] = round((deadline - now).total_seconds(), 1)
        data["overdue"] = deadline < now
    if allowed is not None:
        data["allowed_actions"] = [a.value for a in allowed]
    return data


# --- orders -------------------------------------------------------------------------------------------------


@router.get("/orders/{order_ref}", response_model=WorkOrderPublic, tags=["orders"],
            summary="a work order by id or number (logged)")
async def read_order(order_ref: str, uow: UowDep, holder: HolderDep, principal: OrderReader) -> Any:
    row, _, allowed = await handlers.read_order(uow=uow, holder=holder, actor=_actor(principal), order_ref=order_ref)
    return _public(row, allowed)


@router.get("/orders/{order_ref}/history", response_model=OrderWithHistory, tags=["orders"],
            summary="a work order with every transition (logged)")
async def read_history(order_ref: str, uow: UowDep, holder: HolderDep, principal: OrderReader) -> Any:
    row, history, allowed = await handlers.read_order(uow=uow, holder=holder, actor=_actor(principal),
                                                      order_ref=order_ref, view="history")
    return {**_public(row, allowed), "history": [AuditPublic.model_validate(h, from_attributes=True)
                                                 for h in history or ()]}


@router.post("/orders/{order_ref}/actions/{action}", response_model=WorkOrderPublic, tags=["orders"],
             summary="take a lifecycle action: sign, start, return, close, escalate, ...",
             responses={409: {"description": "not allowed now: the current state and the allowed actions"}})
async def act(order_ref: str, action: Action, body: ActionRequest, request: Request, uow: UowDep,
              holder: HolderDep, principal: CurrentPrincipal) -> Any:
    command = handlers.TakeAction(
        action=action, reason=body.reason, to_unit=body.to_unit,
        extension=Duration.parse(body.extension) if body.extension else None, result=body.result,
        evidence=tuple(body.evidence),
        follow_up=FollowUp(body.follow_up.satisfaction, body.follow_up.resolved, body.follow_up.unit_at_fault)
        if body.follow_up else None, master=body.master, expected_version=body.expected_version)
    outcome = await handlers.take_action(uow=uow, holder=holder, actor=_actor(principal), order_ref=order_ref,
                                         command=command, store=request.app.state.attachments)
    return _public(outcome.row, outcome.allowed)


@router.get("/orders", response_model=OrderPage, tags=["orders"],
            summary="a unit's queue or a search: awaiting sign-for, overdue, text, number, dates ... (logged); "
                    "format=csv exports the whole query (UTF-8 with BOM)",
            responses={200: {"content": {"text/csv": {}}}})
async def list_orders(
    uow: UowDep, holder: HolderDep, principal: OrderReader,
    view: Literal["open", "awaiting_sign", "in_progress", "queued", "return_requested", "overdue", "closed",
                  "all"] = "open",
    state: OrderState | None = Query(None, description="one state (within the view; use view=all for any)"),
    unit: str | None = Query(None, max_length=64),
    county_code: str | None = Query(None, max_length=16), town_code: str | None = Query(None, max_length=16),
    # The names before town_code/county_code (one name per concept across services); kept for old clients.
    county: str | None = Query(None, max_length=16, deprecated=True, description="old name of county_code"),
    town: str | None = Query(None, max_length=16, deprecated=True, description="old name of town_code"),
    category: str | None = Query(None, max_length=32),
    urgency: Literal["normal", "urgent"] | None = None, supervised: bool | None = None,
    incident_id: str | None = Query(None, max_length=64), source_ref: str | None = Query(None, max_length=64),
    q: str | None = Query(None, max_length=200, description="words that must all appear in the description or "
                                                             "the address"),
    number: str | None = Query(None, max_length=64, description="工单编号 or the source's number (受理编号)"),
    since: datetime | None = Query(None, description="reported at or after (a date or date-time; China time "
                                                      "unless an offset is given)"),
    until: datetime | None = Query(None, description="reported before (China time unless an offset is given)"),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
    format: Literal["json", "csv"] = Query("json", description=f"csv: every order the query finds (at most "
                                                                f"{handlers.EXPORT_LIMIT}), each read logged"),
) -> Any:
    search = handlers.Search(text=q, number=number, since=_china(since), until=_china(until))
    filters = handlers.QueueFilter(view=view, state=state.value if state else None, unit_code=unit,
                                   county_code=county_code or county, town_code=town_code or town,
                                   category_code=category, urgency=urgency,
                                   supervised=supervised, incident_id=incident_id, source_ref=source_ref,
                                   search=search, limit=limit, offset=offset)
    if format == "csv":
        text, written, total = await handlers.export_orders(uow=uow, holder=holder, actor=_actor(principal),
                                                            filters=filters)
        return Response(text, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="mcc-orders.csv"', "X-Total-Count": str(total),
            "X-Exported-Count": str(written)})
    rows, total = await handlers.list_orders(uow=uow, holder=holder, actor=_actor(principal), filters=filters)
    return {"total": total, "limit": limit, "offset": offset, "items": [_public(r) for r in rows]}


def _china(moment: datetime | None) -> datetime | None:
    """A bare date or date-time from a query string is the city's clock."""
    return moment.replace(tzinfo=CHINA_TZ) if moment is not None and moment.tzinfo is None else moment


class AccessPublic(BaseModel):
    order_id: str
    order_number: str
    subject: str
    role: str
    unit_code: str | None
    view: str
    at: datetime


@router.get("/access-log", response_model=list[AccessPublic], tags=["privacy"],
            summary="who read which order, when (the city only)")
async def read_access_log(uow: UowDep, principal: CityReader, order: str | None = Query(None, max_length=64),
                          subject: str | None = Query(None, max_length=100), since: AwareDatetime | None = None,
                          until: AwareDatetime | None = None, limit: int = Query(100, ge=1, le=1000),
                          offset: int = Query(0, ge=0)) -> Any:
    return await handlers.access_log(uow=uow, order_ref=order, subject=subject, since=since, until=until,
                                     limit=limit, offset=offset)


class CategoryOut(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    owner: str
    default_urgency: str
    emergency_line: str | None


@router.get("/categories", response_model=list[CategoryOut], tags=["topology"],
            summary="the category code table (大类/中类/小类) dispatch routes by")
async def list_categories(holder: HolderDep, _: CurrentPrincipal, parent: str | None = Query(None, max_length=32),
                          level: Literal["big", "middle", "small"] | None = None) -> Any:
    table = holder.policy.categories
    rows = table.children(parent) if parent else list(table)
    return [CategoryOut(code=c.code, name=c.name, level=c.level.name.lower(), parent_code=c.parent_code,
                        owner=c.duty_owner, default_urgency=c.default_urgency, emergency_line=c.emergency_line)
            for c in rows if level is None or c.level.name.lower() == level]
