"""Server-rendered pages, once for every service: Jinja2 templates, the shared layout, static files and htmx.

A service mounts the web stack with `mount(app, templates=<its templates folder>)`; its pages then render
with `render(request, "page.html", ...)`. Templates resolve in the service's folder first, then here, so every
page extends `base.html` (layout, navigation, shortcut help, CSRF header for htmx). htmx is vendored at a
pinned version in `static/` (see static/VENDORED.md): nothing is fetched from a CDN, nothing is built by Node.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from pydantic import ValidationError

from shared.errors import Invalid, Problem
from shared.events.envelope import utcnow

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
HTMX_FILE = "htmx-2.0.11.min.js"
STATIC_PREFIX = "/static"
DEFAULT_PORTS = {"intake": 8001, "hotline": 8002, "grid": 8003, "dispatch": 8004}

ROLE_LABELS = {"operator": "话务员", "town_dispatcher": "镇街派单员", "county_dispatcher": "县级派单员",
               "city_dispatcher": "市级指挥中心", "department": "职能部门", "admin": "管理员"}
STATE_LABELS = {"accepted": "已受理", "queued": "待派单", "dispatched": "待签收", "signed": "已签收",
                "in_progress": "办理中", "return_requested": "退单待仲裁", "closed": "已办结",
                "followed_up": "已回访", "archived": "已归档", "merged": "已并单",
                "answered": "直接答复", "emergency": "转紧急热线", "out_of_scope": "不予受理", "linked": "重复件",
                "dispatched_pending": "派单中"}
ACTION_LABELS = {"dispatch": "派单", "queue": "转兜底队列", "route": "派单", "sign": "签收", "start": "开始办理",
                 "return": "退单", "approve_return": "同意退单", "reject_return": "驳回退单",
                 "request_extension": "申请延期", "approve_extension": "批准延期", "refuse_extension": "驳回延期",
                 "urge": "催办", "supervise": "督办", "escalate": "提级", "warn": "预警", "close": "办结",
                 "follow_up": "回访", "reopen": "重办", "archive": "归档", "merge": "并单", "reassign": "改派",
                 "create": "受理"}
URGENCY_LABELS = {"normal": "一般", "urgent": "紧急"}


def public_url(service: str) -> str:
    """A service's address as the browser reaches it: MCC_PUBLIC_URL_<SERVICE>, else the local port."""
    explicit = os.environ.get(f"MCC_PUBLIC_URL_{service.upper()}")
    if explicit:
        return explicit.rstrip("/")
    port = os.environ.get(f"MCC_{service.upper()}_PORT") or DEFAULT_PORTS.get(service, 8000)
    return f"http://127.0.0.1:{port}"


def _clock(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone().strftime("%m-%d %H:%M")


def _duration(seconds: float | None) -> str:
    """A countdown in words: 2天3小时, 45分, 超时1小时5分."""
    if seconds is None:
        return ""
    late, left = seconds < 0, int(abs(seconds))
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = (f"{days}天{hours}小时" if days else f"{hours}小时{minutes}分" if hours else f"{minutes}分")
    return f"超时{text}" if late else text


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def environment(service_templates: Path | None = None) -> Jinja2Templates:
    """The Jinja2 environment of one service: its own templates first, then the shared ones."""
    loaders = ([FileSystemLoader(str(service_templates))] if service_templates else []) + [
        FileSystemLoader(str(TEMPLATES_DIR))]
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.loader = ChoiceLoader(loaders)
    templates.env.globals.update(htmx=f"{STATIC_PREFIX}/{HTMX_FILE}", static=STATIC_PREFIX, public_url=public_url,
                                 role_labels=ROLE_LABELS, state_labels=STATE_LABELS, action_labels=ACTION_LABELS,
                                 urgency_labels=URGENCY_LABELS)
    templates.env.filters.update(clock=_clock, duration=_duration, iso=_iso)
    return templates


CONSOLE_BY_ROLE = {"operator": ("hotline", "/console"), "town_dispatcher": ("dispatch", "/board"),
                   "county_dispatcher": ("dispatch", "/board"), "department": ("dispatch", "/board"),
                   "city_dispatcher": ("dispatch", "/city"), "admin": ("dispatch", "/admin/accounts")}


def console_url(role: str) -> str:
    """Where a person of this role works (after sign-in, and from `/` of any service with pages)."""
    service, path = CONSOLE_BY_ROLE.get(role, ("dispatch", "/signin"))
    return f"{public_url(service)}{path}"


def mount(app: FastAPI, *, templates: Path | None = None) -> Jinja2Templates:
    """Serve the shared static files, `/` (to the person's console, or sign-in) and keep the service's
    template environment on the app."""
    if not any(getattr(r, "path", None) == STATIC_PREFIX for r in app.routes):
        app.mount(STATIC_PREFIX, StaticFiles(directory=str(STATIC_DIR)), name="static")
    if not any(getattr(r, "path", None) == "/" for r in app.routes):
        app.add_api_route("/", _home, include_in_schema=False)
    env = environment(templates)
    app.state.templates = env
    return env


async def _home(request: Request) -> RedirectResponse:
    from shared.auth import principal_from_request

    try:
        principal = principal_from_request(request)
    except HTTPException:
        principal = None
    if principal is None:
        return RedirectResponse(f"{public_url('dispatch')}/signin", status_code=303)
    return RedirectResponse(console_url(principal.role.value), status_code=303)


def render(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page or an htmx fragment from the app's template environment."""
    templates: Jinja2Templates = request.app.state.templates
    context.setdefault("now", utcnow())
    context.setdefault("principal", getattr(request.state, "principal", None))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


T = TypeVar("T")


async def or_refusal(call: Awaitable[T], *refusals: type[Exception]) -> tuple[T | None, Exception | None]:
    """The handler's answer, or its refusal as a value: the one place a page catches. A page shows a refusal
    to a person inside the form or fragment it answers (HTML), where the API answers shared/http.py's JSON
    problem. `refusals` are the kinds this page shows (default: every shared Problem); anything else goes on
    to the one handler. A form the request models refuse (pydantic's ValidationError) comes back as the
    field-level Invalid when the page shows Invalid refusals."""
    kinds = refusals or (Problem,)
    try:
        return await call, None
    except ValidationError as exc:
        if not any(issubclass(Invalid, kind) for kind in kinds):
            raise
        from shared.http import field_errors  # shared.http builds apps that mount these pages

        return None, Invalid.of(field_errors(exc.errors()))
    except kinds as exc:
        return None, exc
