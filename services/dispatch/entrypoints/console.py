"""派单台 (`/board`): a dispatcher's live queue, order detail with history, and one key per allowed action.

Thin routes over the same handlers as the JSON API (`take_action`, `read_order`) and the board's reads in
service/board.py. The keys shown for an order are the actions the state machine allows this person now.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response

from services.dispatch.domain.lifecycle import (
    Action,
    Actor,
    OrderNotVisible,
    OrderState,
)
from services.dispatch.domain.org import UnitKind
from services.dispatch.domain.sla import Duration
from services.dispatch.service import board, handlers
from services.dispatch.service.board import StaleOrder, board_filter
from shared.auth import Principal
from shared.deps import UowDep
from shared.errors import NotFound, Problem
from shared.gridindex import largest_part
from shared.roles import Role
from shared.web import or_refusal, render
from shared.web.session import ensure_csrf_cookie, page_principal

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
router = APIRouter(include_in_schema=False)
BOARD_ROLES = (Role.TOWN, Role.COUNTY, Role.CITY, Role.DEPARTMENT)

# One key per action; `inputs` are the fields its form asks for (none: the key acts at once).
ACTIONS: dict[Action, dict[str, Any]] = {
    Action.SIGN: {"key": "s", "label": "签收", "inputs": ()},
    Action.START: {"key": "b", "label": "开始办理", "inputs": ()},
    Action.RETURN: {"key": "r", "label": "退单", "inputs": ("reason",)},
    Action.REQUEST_EXTENSION: {"key": "x", "label": "申请延期", "inputs": ("extension", "reason")},
    Action.CLOSE: {"key": "c", "label": "办结", "inputs": ("result", "evidence")},
    Action.APPROVE_RETURN: {"key": "a", "label": "同意退单", "inputs": ()},
    Action.REJECT_RETURN: {"key": "d", "label": "驳回退单", "inputs": ("reason",)},
    Action.APPROVE_EXTENSION: {"key": "y", "label": "批准延期", "inputs": ("extension",)},
    Action.REFUSE_EXTENSION: {"key": "n", "label": "驳回延期", "inputs": ("reason",)},
    Action.ROUTE: {"key": "g", "label": "派单", "inputs": ("to_unit",)},
    Action.REASSIGN: {"key": "m", "label": "改派", "inputs": ("to_unit", "reason")},
    Action.ESCALATE: {"key": "e", "label": "提级", "inputs": ("reason",)},
    Action.URGE: {"key": "u", "label": "催办", "inputs": ()},
    Action.SUPERVISE: {"key": "v", "label": "督办", "inputs": ()},
}
VIEWS = {"open": "全部在办", "awaiting_sign": "待签收", "in_progress": "办理中", "queued": "待派单(兜底)",
         "return_requested": "退单待仲裁", "overdue": "已超时", "closed": "已办结", "all": "全部"}


def _dispatcher(request: Request) -> Principal:
    return page_principal(request, BOARD_ROLES)


DispatcherPage = Annotated[Principal, Depends(_dispatcher)]


def _holder(request: Request) -> handlers.PolicyHolder:
    return request.app.state.policy


def _category_name(request: Request, code: str) -> str:
    category = _holder(request).policy.categories.get(code)
    return category.name if category is not None else code


def _targets(request: Request, principal: Principal) -> list[tuple[str, str]]:
    """Units this person may send an order to: the command centres and departments within their area."""
    org = _holder(request).policy.org
    area = principal.unit_code if principal.role is not Role.CITY else None
    return [(u.code, u.name) for u in org if org.is_dispatch_target(u.code) and u.code != principal.unit_code
            and (area is None or org.is_within(u.code, area))][:300]


def _towns(request: Request, principal: Principal) -> list[tuple[str, str]]:
    org = _holder(request).policy.org
    if principal.role in (Role.TOWN, Role.DEPARTMENT):
        return []
    area = principal.unit_code if principal.role is Role.COUNTY else None
    return [(u.code, u.name) for u in org if u.kind is UnitKind.TOWN and (area is None or org.is_within(u.code, area))]


def _deadline(row: Any) -> tuple[datetime | None, float]:
    """The running deadline and the seconds before it at which the board turns yellow (a quarter of the span)."""
    if row.state == OrderState.DISPATCHED.value:
        end, start = row.sign_deadline, row.dispatched_at or row.assigned_at
    elif row.state in (OrderState.SIGNED.value, OrderState.IN_PROGRESS.value):
        end, start = row.handle_deadline, row.signed_at or row.dispatched_at
    else:
        return None, 0
    span = (end - start).total_seconds() if end and start else 3600
    return end, max(span * 0.25, 60)


@router.get("/board", response_class=HTMLResponse)
async def board_page(request: Request, principal: DispatcherPage) -> HTMLResponse:
    categories = [(c.code, c.name) for c in _holder(request).policy.categories if len(c.code) <= 4]
    response = render(request, "board.html", principal=principal, views=VIEWS, towns=_towns(request, principal),
                      categories=categories)
    return ensure_csrf_cookie(request, response)


def _board_filters(view: str, town: str, category: str, urgency: str, q: str, number: str, since: str,
                   until: str, *, limit: int = 100) -> handlers.QueueFilter:
    """The board's filter form as the list query (the one the JSON API runs)."""
    return board_filter(view=view if view in VIEWS else "open", town=town, category=category, urgency=urgency,
                        q=q, number=number, since=since, until=until, limit=limit)


@router.get("/board/queue", response_class=HTMLResponse)
async def queue_fragment(request: Request, uow: UowDep, principal: DispatcherPage, view: str = "open",
                         town: str = "", category: str = "", urgency: str = "", q: str = "", number: str = "",
                         since: str = "", until: str = "") -> HTMLResponse:
    filters = _board_filters(view, town, category, urgency, q, number, since, until)
    rows, total = await board.queue(uow=uow, holder=_holder(request), actor=Actor.of(principal), filters=filters)
    items = [{"row": r.order, "deadline": _deadline(r.order), "category": _category_name(request, r.order.category_code),
              "actions": [ACTIONS[a]["label"] for a in r.allowed if a in ACTIONS]} for r in rows]
    names = {u.code: u.name for u in _holder(request).policy.org}
    return render(request, "_queue.html", items=items, total=total, names=names)


@router.get("/board/export.csv")
async def export_csv(request: Request, uow: UowDep, principal: DispatcherPage, view: str = "open", town: str = "",
                     category: str = "", urgency: str = "", q: str = "", number: str = "", since: str = "",
                     until: str = "") -> Response:
    """The board's current query as a spreadsheet: the API's export, same scope, each read logged."""
    filters = _board_filters(view, town, category, urgency, q, number, since, until)
    text, _, total = await handlers.export_orders(uow=uow, holder=_holder(request), actor=Actor.of(principal),
                                                  filters=filters)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="mcc-orders.csv"', "X-Total-Count": str(total)})


async def _town_shape(request: Request, town: str | None) -> tuple[tuple[float, ...] | None, str]:
    """The town's box and its outline in the detail's 100 x 60 sketch, from grid's registry (the city map's)."""
    outlines, _ = await request.app.state.grid_map.current()
    area = outlines.get(town or "")
    if area is None or area.is_empty:
        return None, ""
    x0, y0, x1, y1 = area.bounds
    part = largest_part(area)
    points = " ".join(f"{(x - x0) / max(x1 - x0, 1e-9) * 100:.1f},{(y1 - y) / max(y1 - y0, 1e-9) * 60:.1f}"
                      for x, y in part.exterior.coords)
    return (x0, y0, x1, y1), points


async def _detail(request: Request, uow: Any, principal: Principal, ref: str, *, message: str | None = None,
                  error: str | None = None, status_code: int = 200) -> HTMLResponse:
    found, refusal = await or_refusal(handlers.read_order(
        uow=uow, holder=_holder(request), actor=Actor.of(principal), order_ref=ref, view="history"), OrderNotVisible)
    if found is None or refusal is not None:  # a page fragment, not an API: it says so in place of the order
        return render(request, "_detail.html", row=None, error="工单不存在或不在您的辖区", status_code=404)
    row, history, allowed = found
    names = {u.code: u.name for u in _holder(request).policy.org}
    actions = [(a.value, ACTIONS[a]) for a in allowed if a in ACTIONS]
    evidence = [e for h in history or () for e in (h.details or {}).get("evidence", [])
                if not e.startswith("attachment:")]  # those are among the order's attachments
    box, outline = await _town_shape(request, row.town_code)
    return render(request, "_detail.html", row=row, history=history or [], actions=actions, names=names,
                  category=_category_name(request, row.category_code), deadline=_deadline(row), box=box, outline=outline,
                  evidence=evidence, targets=_targets(request, principal), message=message, error=error,
                  status_code=status_code)


@router.get("/board/orders/{ref}", response_class=HTMLResponse)
async def order_detail(request: Request, ref: str, uow: UowDep, principal: DispatcherPage) -> HTMLResponse:
    return await _detail(request, uow, principal, ref)


@router.get("/board/orders/{ref}/attachments/{attachment_id}")
async def order_attachment(request: Request, ref: str, attachment_id: str, uow: UowDep,
                           principal: DispatcherPage) -> Response:
    """A photo or document of the order, for whoever may read the order (logged as the API's read is)."""
    path, content_type = await handlers.order_attachment(
        uow=uow, holder=_holder(request), actor=Actor.of(principal), order_ref=ref, attachment_id=attachment_id,
        store=request.app.state.attachments)
    return FileResponse(path, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})


def _said(refusal: Exception) -> str:
    """A refusal as one line for the page."""
    if isinstance(refusal, StaleOrder):
        return "工单已被他人更新，请核对后重试"
    if isinstance(refusal, Problem) and isinstance(refusal.detail, list):
        return refusal.detail[0]["message"]
    return str(refusal)


@router.post("/board/orders/{ref}/actions/{action}", response_class=HTMLResponse)
async def order_action(request: Request, ref: str, action: Action, uow: UowDep, principal: DispatcherPage,
                       reason: Annotated[str, Form()] = "", to_unit: Annotated[str, Form()] = "",
                       extension: Annotated[str, Form()] = "", result: Annotated[str, Form()] = "",
                       evidence: Annotated[str, Form()] = "",
                       evidence_file: Annotated[UploadFile | None, File()] = None,
                       expected_version: Annotated[str, Form()] = "") -> HTMLResponse:
    """Take one action through the API's handler; the detail re-renders with what is allowed next. A file
    chosen as evidence is stored first and named in the close as `attachment:<id>`."""
    store = request.app.state.attachments
    items = [e for e in (evidence.strip(),) if e]
    uploading = evidence_file is not None and bool(evidence_file.filename)

    async def act() -> Any:
        nonlocal uploading
        if uploading:
            content = await evidence_file.read(store.max_bytes + 1)  # type: ignore[union-attr]
            items.append(f"attachment:{(await handlers.upload_attachment(store=store, content=content)).id}")
        uploading = False
        command = handlers.TakeAction(
            action=action, reason=reason.strip() or None, to_unit=to_unit.strip() or None,
            extension=Duration.parse(extension.strip()) if extension.strip() else None,
            result=result.strip() or None, evidence=tuple(items),
            expected_version=int(expected_version) if expected_version.isdigit() else None)
        return await handlers.take_action(uow=uow, holder=_holder(request), actor=Actor.of(principal),
                                          order_ref=ref, command=command, store=store)

    outcome, refusal = await or_refusal(act(), Problem, ValueError)
    if refusal is not None:  # a form, not an API: the refusal is shown in the re-rendered order
        if isinstance(refusal, NotFound):
            return render(request, "_detail.html", row=None, error="工单不存在或不在您的辖区", status_code=404)
        return await _detail(request, request.app.state.runtime.uow(), principal, ref, error=_said(refusal),
                             status_code=422 if uploading else 409)
    label = ACTIONS.get(action, {"label": action.value})["label"]
    response = await _detail(request, request.app.state.runtime.uow(), principal, outcome.row.number,
                             message=f"已{label}：工单 {outcome.row.number}")
    response.headers["HX-Trigger"] = "mcc-order-changed"  # the queue refreshes at once, not at the next poll
    return response
