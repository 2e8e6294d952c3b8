"""话务员工作台 (`/console`): the operator's keyboard-first call form and the follow-up worklist (`/console/followups`).

Thin routes: they parse the form with the JSON API's own models, call the same handlers the API calls (or
the console's read-only helpers in service/assist.py) and render a page or an htmx fragment. Pages are for
operators signed in by the session cookie (or a bearer token); every change checks the CSRF token. A refusal
is shown inside the form it answers (`_or_refusal`), with the status the API would answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from services.hotline.domain.appeal import APPEAL_TYPE_NAMES
from services.hotline.domain.privacy import phone_or_none
from services.hotline.entrypoints.api import AppealCreate, Context, FollowUpIn, ScopeIn
from services.hotline.service import assist, handlers
from shared.auth import Principal
from shared.deps import RuntimeDep, UowDep
from shared.errors import Conflict, Invalid, Problem
from shared.events.v1 import Coordinates
from shared.idempotency import IdempotencyConflict
from shared.roles import Role
from shared.web import or_refusal, render
from shared.web.session import ensure_csrf_cookie, page_principal

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
router = APIRouter(include_in_schema=False)


def _operator(request: Request) -> Principal:
    return page_principal(request, (Role.OPERATOR,))


OperatorPage = Annotated[Principal, Depends(_operator)]


T = TypeVar("T")


async def _or_refusal(call: Awaitable[T]) -> tuple[T | None, Problem | None]:
    """The handler's answer, or its refusal as a value (shared.web.or_refusal): a form the API's models
    refuse, and a form submitted twice with other contents, are refusals of the same kind."""
    answer, refusal = await or_refusal(call, Problem, IdempotencyConflict)
    if isinstance(refusal, IdempotencyConflict):
        return None, Conflict("这张表单已提交过：按 F2 开始新的来电")
    return answer, refusal  # type: ignore[return-value]


def _messages(problem: Problem) -> list[dict[str, str]]:
    """A refusal as the form's error lines: one per field, or one for the form."""
    if isinstance(problem.detail, list):
        return [{"field": e["field"], "message": e["message"]} for e in problem.detail]
    return [{"field": "form", "message": str(problem.detail)}]


def _point(text: str | None) -> tuple[Coordinates | None, Invalid | None]:
    """"120.86, 32.01" (经度, 纬度) → Coordinates; None when blank; the field's refusal when malformed (a form
    shows it beside its other errors)."""
    if not text or not text.strip():
        return None, None
    parts = text.replace("，", ",").replace(" ", ",").split(",")
    numbers = [p for p in parts if p]
    if len(numbers) != 2 or not all(_NUMBER.match(n) for n in numbers):
        return None, Invalid("coordinates", "坐标格式：经度,纬度，例如 120.86,32.01")
    lon, lat = float(numbers[0]), float(numbers[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None, Invalid("coordinates", "坐标超出范围：经度在 -180 到 180 之间，纬度在 -90 到 90 之间")
    return Coordinates(lon=lon, lat=lat), None


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


_POINT = re.compile(r"^\s*-?\d{1,3}(\.\d+)?\s*[,，\s]\s*-?\d{1,2}(\.\d+)?\s*$")


def _place(address: str, coordinates: str) -> tuple[str, str]:
    """(address, coordinates) with "120.86,32.01" typed into the address field taken as coordinates: the
    operator types the place once, in one field, whichever form the caller gives it in."""
    if not coordinates.strip() and _POINT.match(address):
        return "", address
    return address, coordinates


@router.get("/console", response_class=HTMLResponse)
async def console_page(request: Request, ctx: Context, principal: OperatorPage) -> HTMLResponse:
    leaves = [(c.code, c.name) for c in ctx.categories.leaves()]
    response = render(request, "console.html", principal=principal, leaves=leaves, types=APPEAL_TYPE_NAMES,
                      form_id=str(uuid.uuid4()))
    return ensure_csrf_cookie(request, response)


@router.get("/console/caller", response_class=HTMLResponse)
async def caller_fragment(request: Request, uow: UowDep, _: OperatorPage, caller_phone: str = "") -> HTMLResponse:
    digits = "".join(ch for ch in caller_phone if ch.isdigit())
    if len(digits) < 7:
        return render(request, "_caller.html", history=None)
    history, refused = await _or_refusal(handlers.caller_history(uow=uow, phone=caller_phone, limit=10))
    if refused is not None:
        return render(request, "_caller.html", history=None, error=_messages(refused)[0]["message"])
    return render(request, "_caller.html", history=history)


@router.get("/console/locate", response_class=HTMLResponse)
async def locate_fragment(request: Request, ctx: Context, _: OperatorPage, coordinates: str = "",
                          address: str = "") -> HTMLResponse:
    address, coordinates = _place(address, coordinates)
    point, bad_point = _point(coordinates)
    if bad_point is not None:
        return render(request, "_locate.html", error=_messages(bad_point)[0]["message"])
    if point is None:
        place = ctx.grid.place(address.strip()) if address.strip() else None
        return render(request, "_locate.html", found=None, address=address.strip(), place=place)
    found = await assist.locate(grid=ctx.grid, lon=point.lon, lat=point.lat)
    return render(request, "_locate.html", found=found, point=point)


@router.post("/console/assist", response_class=HTMLResponse)
async def assist_fragment(request: Request, ctx: Context, uow: UowDep, _: OperatorPage, description: str = Form(""),
                          category_code: str = Form(""), caller_phone: str = Form(""),
                          coordinates: str = Form(""), address: str = Form("")) -> HTMLResponse:
    """Everything that follows from the words so far: category suggestions, answers, scope, duplicates."""
    address, coordinates = _place(address, coordinates)
    text = description.strip()
    suggestions = assist.suggest_categories(suggester=ctx.suggester, description=text)
    answers = handlers.search_articles(ctx=ctx, query=text, category=None, limit=3) if len(text) >= 2 else []
    code = category_code.strip() or None
    category = ctx.categories.get(code) if code else None
    scope = assist.preview_scope(ctx=ctx, description=text, category_code=code) if text or category else None
    duplicates: list[dict[str, Any]] = []
    if category is not None:  # while the call goes on, a number or point not typed in full yet just counts less
        point, _bad_point = _point(coordinates)
        duplicates = await handlers.find_duplicates(uow=uow, ctx=ctx, phone=phone_or_none(caller_phone),
                                                    category_code=category.code, point=point)
    return render(request, "_assist.html", suggestions=suggestions, answers=answers[:3], scope=scope,
                  duplicates=duplicates[:3], category=category,
                  category_path=" / ".join(c.name for c in ctx.categories.path(category.code)) if category else "")


_PROTECTION = {"none": (False, False), "confidential": (True, False), "anonymous": (False, True)}


@router.post("/console/appeals", response_class=HTMLResponse)
async def submit_call(request: Request, ctx: Context, runtime: RuntimeDep, principal: OperatorPage,
                      form_id: Annotated[str, Form()], caller_phone: Annotated[str, Form()] = "",
                      appeal_type: Annotated[str, Form()] = "complaint", description: Annotated[str, Form()] = "",
                      address: Annotated[str, Form()] = "", coordinates: Annotated[str, Form()] = "",
                      category_code: Annotated[str, Form()] = "", urgency: Annotated[str, Form()] = "",
                      protection: Annotated[str, Form()] = "none", link_to_order: Annotated[str, Form()] = "",
                      answer_article_id: Annotated[str, Form()] = "", scope_kind: Annotated[str, Form()] = "",
                      scope_line: Annotated[str, Form()] = "") -> HTMLResponse:
    """Create the appeal through the API's model and handler; the form's id is the Idempotency-Key."""
    address, coordinates = _place(address, coordinates)
    point, bad_point = _point(coordinates)
    confidential, anonymous = _PROTECTION.get(protection, (False, False))
    scope = ScopeIn(kind="emergency", emergency_line=scope_line) if scope_kind == "emergency" and scope_line else None

    async def create() -> handlers.Created:
        body = AppealCreate(
            caller_phone=caller_phone or None, appeal_type=appeal_type, category_code=category_code.strip(),
            description=description.strip(), address=address.strip() or None, coordinates=point,
            urgency=urgency or None, confidential=confidential, anonymous=anonymous, scope=scope,
            link_to_order=link_to_order.strip() or None, answer_article_id=answer_article_id.strip() or None)
        if bad_point is not None:
            raise bad_point
        command = handlers.CreateAppeal(
            caller_phone=body.caller_phone, caller_name=None, appeal_type=body.appeal_type,
            category_code=body.category_code, description=body.description, address=body.address,
            coordinates=body.coordinates, urgency=body.urgency, confidential=body.confidential,
            anonymous=body.anonymous, link_to_order=body.link_to_order, answer_article_id=body.answer_article_id,
            answer_note=None,
            scope=handlers.ScopeChoice(**body.scope.model_dump()) if body.scope is not None else None)
        return await handlers.create_appeal(
            new_uow=runtime.uow, ctx=ctx, command=command, operator=principal.subject,
            operator_unit=principal.unit_code, idempotency_key=f"console-{form_id}"[:200], fingerprint=None)

    created, refused = await _or_refusal(create())
    if refused is not None:
        errors = _messages(refused)
        if bad_point is not None and bad_point is not refused:  # the form's other errors, and the point's
            errors = _messages(bad_point) + errors
        return render(request, "_submitted.html", errors=errors, status_code=refused.status)
    return render(request, "_submitted.html", appeal=created.body if created else None, errors=[])


# --- 回访 -----------------------------------------------------------------------------------------------------


@router.get("/console/followups", response_class=HTMLResponse)
async def followups_page(request: Request, ctx: Context, runtime: RuntimeDep, principal: OperatorPage) -> HTMLResponse:
    items = await assist.followup_worklist(uow=runtime.uow(), ctx=ctx)
    response = render(request, "followups.html", principal=principal, items=items,
                      spacing_h=ctx.followups.retry_after.total_seconds() / 3600,
                      max_attempts=ctx.followups.max_attempts)
    return ensure_csrf_cookie(request, response)


@router.post("/console/followups/{appeal_ref}", response_class=HTMLResponse)
async def record_followup(request: Request, appeal_ref: str, ctx: Context, runtime: RuntimeDep, principal: OperatorPage,
                          outcome: Annotated[str, Form()], resolved: Annotated[str, Form()] = "",
                          unit_at_fault: Annotated[str, Form()] = "",
                          comment: Annotated[str, Form()] = "") -> HTMLResponse:
    reached = outcome != "not_reached"

    async def record() -> dict[str, Any]:
        body = FollowUpIn(reached=reached, satisfaction=outcome if reached else None,
                          resolved=(resolved == "yes") if reached else None,
                          unit_at_fault=(unit_at_fault == "yes") if reached and outcome == "dissatisfied" else None,
                          comment=comment.strip() or None)
        return await handlers.record_followup(uow=runtime.uow(), ctx=ctx, command=handlers.RecordFollowUp(
            appeal_ref=appeal_ref, operator=principal.subject, operator_name=principal.name,
            operator_kind=principal.kind, reached=body.reached, resolved=body.resolved,
            satisfaction=body.satisfaction, unit_at_fault=body.unit_at_fault, comment=body.comment))

    result, refused = await _or_refusal(record())
    if refused is not None:
        return render(request, "_followup_done.html", error="; ".join(e["message"] for e in _messages(refused)),
                      status_code=refused.status)
    return render(request, "_followup_done.html", result=result)
