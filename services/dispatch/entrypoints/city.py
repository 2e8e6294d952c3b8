"""市级指挥中心 (`/city`): a map of the city with open, overdue and warned orders per town, backlog per county
and town, this month's 红黑榜, 督办 with one key, and the feed of escalations. Polls without a reload. The map's
outlines come from grid's registry (app.state.grid_map, set by the composition root)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.dispatch.domain.lifecycle import Action, Actor
from services.dispatch.service import board, handlers
from shared.auth import Principal
from shared.errors import Problem
from shared.events.envelope import utcnow
from shared.gridindex import largest_part
from shared.roles import Role
from shared.web import or_refusal, render
from shared.web.session import ensure_csrf_cookie, page_principal

router = APIRouter(include_in_schema=False)
CITY_ROLES = (Role.CITY, Role.COUNTY, Role.ADMIN)
MAP_W, MAP_H = 1000, 690  # the demo city is ~165 km wide and ~113 km high: kept in proportion


def _city(request: Request) -> Principal:
    return page_principal(request, CITY_ROLES)


CityPage = Annotated[Principal, Depends(_city)]


def _holder(request: Request) -> handlers.PolicyHolder:
    return request.app.state.policy


async def _shapes(request: Request, codes: list[str]) -> dict[str, tuple[str, float, float]]:
    """Each area's outline in map units: (SVG polygon points, label x, label y), from grid's registry."""
    outlines, bbox = await request.app.state.grid_map.current()
    if bbox is None:
        return {}
    x0, y0, x1, y1 = bbox
    sx, sy = MAP_W / max(x1 - x0, 1e-9), MAP_H / max(y1 - y0, 1e-9)
    out = {}
    for code in codes:
        area = outlines.get(code)
        if area is not None and not area.is_empty:
            points = " ".join(f"{(x - x0) * sx:.1f},{(y1 - y) * sy:.1f}" for x, y in largest_part(area).exterior.coords)
            label = area.representative_point()
            out[code] = (points, (label.x - x0) * sx, (y1 - label.y) * sy)
    return out


def _fill(town: dict) -> str:
    """Colour by load: grey when quiet, yellow with open orders, red with overdue ones."""
    if town["overdue"]:
        return "#d9534f" if town["overdue"] > 2 else "#f0a07a"
    if town["open"]:
        return "#f3d46b" if town["open"] > 5 else "#fbeaa5"
    return "#dfe6ec"


async def _picture(request: Request) -> dict:
    month = utcnow().astimezone().strftime("%Y-%m")
    picture = await board.city_picture(uow=request.app.state.runtime.uow(), holder=_holder(request), month=month)
    shapes = await _shapes(request, [t["code"] for t in picture["towns"]] + [c["code"] for c in picture["counties"]])
    for town in picture["towns"]:
        town["shape"], town["fill"] = shapes.get(town["code"]), _fill(town)
    for county in picture["counties"]:
        county["shape"] = shapes.get(county["code"])
    picture["busy_towns"] = sorted((t for t in picture["towns"] if t["open"]),
                                   key=lambda t: (-t["overdue"], -t["open"]))[:15]
    return picture


@router.get("/city", response_class=HTMLResponse)
async def city_page(request: Request, principal: CityPage) -> HTMLResponse:
    response = render(request, "city.html", principal=principal, w=MAP_W, h=MAP_H, **await _picture(request))
    return ensure_csrf_cookie(request, response)


@router.get("/city/live", response_class=HTMLResponse)
async def city_live(request: Request, _: CityPage) -> HTMLResponse:
    return render(request, "_city_live.html", w=MAP_W, h=MAP_H, **await _picture(request))


@router.post("/city/supervise/{ref}", response_class=HTMLResponse)
async def supervise(request: Request, ref: str, principal: CityPage) -> HTMLResponse:
    """督办: the same lifecycle action the board and the API take."""
    outcome, refusal = await or_refusal(handlers.take_action(
        uow=request.app.state.runtime.uow(), holder=_holder(request), actor=Actor.of(principal), order_ref=ref,
        command=handlers.TakeAction(action=Action.SUPERVISE)), Problem, ValueError)
    # A page, not an API: the refusal is shown above the refreshed picture.
    error = None if refusal is None else str(refusal)
    message = None if outcome is None else f"已督办：工单 {outcome.row.number}"
    return render(request, "_city_live.html", w=MAP_W, h=MAP_H, message=message, error=error,
                  status_code=200 if error is None else 409, **await _picture(request))
