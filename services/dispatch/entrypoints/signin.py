"""Sign-in and sign-out pages: a person's login and password become a session cookie every service accepts.

The answer to a wrong password, an unknown login and a disabled account is the same text with the same
Argon2 work behind it, so the page never tells whether a login exists. See docs/accounts.md for the bounds.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from redis.exceptions import RedisError

from services.dispatch.domain.accounts import Account, unit_kind
from services.dispatch.service import accounts as service
from shared import sessions
from shared.auth import mint_token, principal_from_request
from shared.roles import Role
from shared.web import mount, public_url, render

log = logging.getLogger("mcc.dispatch.signin")
router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

BAD_CREDENTIALS = "登录名或密码错误。"
LOCKED = "登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试。"
UNAVAILABLE = "登录服务暂时不可用，请稍后再试。"
EXPIRED = "页面已过期，请重新输入。"

# Where each role works after signing in: (service, path).
CONSOLES: dict[Role, tuple[str, str]] = {
    Role.OPERATOR: ("hotline", "/console"), Role.TOWN: ("dispatch", "/board"), Role.COUNTY: ("dispatch", "/board"),
    Role.DEPARTMENT: ("dispatch", "/board"), Role.CITY: ("dispatch", "/city"),
    Role.ADMIN: ("dispatch", "/admin/accounts"),
}
SERVICES = ("intake", "hotline", "grid", "dispatch")


def install(app: FastAPI) -> None:
    """Templates for the pages; the account check dispatch adds to session renewal; the role-fits-unit door."""
    mount(app, templates=TEMPLATES)
    runtime = app.state.runtime

    async def still_active(claims: dict[str, object]) -> bool:
        return await service.account_active(uow=runtime.uow(), account_id=str(claims.get("sub")))

    app.state.session_check = still_active
    holder = app.state.policy
    app.state.unit_kind = lambda unit: unit_kind(unit, holder.policy.org)


def console_url(role: Role) -> str:
    """The console a role lands on after signing in."""
    name, path = CONSOLES[role]
    return public_url(name) + path


def safe_next(target: str) -> str | None:
    """A return address only if it is on one of mcc's own services (never an open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    parts = urlsplit(target)
    origins = {urlsplit(public_url(s))[:2] for s in SERVICES}
    return target if parts.scheme in ("http", "https") and (parts.scheme, parts.netloc) in origins else None


def _limiter(request: Request) -> service.SignInLimiter:
    settings = request.app.state.settings
    return service.limiter(request.app.state.runtime.redis, max_failures=settings.signin_max_failures,
                           address_max_failures=settings.signin_address_max_failures, lock_s=settings.signin_lock_s)


def _page(request: Request, *, status_code: int = 200, message: str = "", login: str = "",
          next_url: str = "") -> HTMLResponse:
    settings = request.app.state.settings
    return render(request, "accounts/signin.html", status_code=status_code, message=message, login=login,
                  next=next_url, csrf=sessions.csrf_token(request), max_failures=settings.signin_max_failures,
                  lock_minutes=max(1, settings.signin_lock_s // 60))


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request, next: str = "") -> HTMLResponse:  # noqa: A002 - the query's name
    return _page(request, next_url=safe_next(next) or "")


@router.post("/signin")
async def signin(request: Request, login: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                 csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    login, next_url = login.strip().lower()[:64], safe_next(next) or ""
    expected = request.cookies.get(sessions.CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _page(request, status_code=403, message=EXPIRED, login=login, next_url=next_url)
    address = request.client.host if request.client else None
    try:
        attempt = await service.sign_in(uow=request.app.state.runtime.uow(), limits=_limiter(request), login=login,
                                        password=password[:1024], address=address)
        if attempt.account is None:
            message = LOCKED.format(minutes=-(-attempt.locked_s // 60)) if attempt.locked_s else BAD_CREDENTIALS
            return _page(request, status_code=429 if attempt.locked_s else 401, message=message, login=login,
                         next_url=next_url)
        account = attempt.account
        sid = await sessions.open_session(request.app.state.runtime.redis, account_id=account.id,
                                          max_s=request.app.state.settings.session_max_s)
    except (RedisError, OSError) as exc:  # a form: the page says to try later (503) instead of an error body
        log.warning("sign-in unavailable: redis unreachable", extra={"error": str(exc)})
        return _page(request, status_code=503, message=UNAVAILABLE, login=login, next_url=next_url)
    response = RedirectResponse(next_url or console_url(account.role), status_code=303)
    start_session(request, response, account, sid)
    return response


def start_session(request: Request, response: Response, account: Account, sid: str) -> None:
    """Put a fresh session token in the cookie, and a fresh CSRF token beside it."""
    settings = request.app.state.settings
    token = mint_token(request.app.state.token_secret, subject=account.id, role=account.role,
                       unit_code=account.unit_code, name=account.display_name,
                       ttl=timedelta(seconds=settings.session_ttl_s), kind="session",
                       audience=settings.token_audience, extra={"sid": sid, "auth_time": int(time.time())})
    secure = sessions.secure_cookies(request)
    response.headers.append("set-cookie", sessions.cookie_header(sessions.SESSION_COOKIE, token, http_only=True,
                                                                 secure=secure).decode("latin-1"))
    response.headers.append("set-cookie", sessions.cookie_header(
        sessions.CSRF_COOKIE, sessions.new_csrf_value(), http_only=False, secure=secure).decode("latin-1"))


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session: no renewal anywhere, the cookie cleared; back to the sign-in page."""
    try:
        principal = principal_from_request(request)
    except HTTPException:
        principal = None  # an expired or broken cookie: nothing to end but the cookie itself
    if principal is not None and principal.kind == "session":
        if principal.session_id:
            try:
                await sessions.close_session(request.app.state.runtime.redis, principal.session_id)
            except (RedisError, OSError) as exc:  # the token still runs out within its lifetime
                log.warning("session not closed in redis", extra={"error": str(exc)})
        await service.record_sign_out(uow=request.app.state.runtime.uow(), principal=principal,
                                      address=request.client.host if request.client else None)
    response = RedirectResponse("/signin", status_code=303)
    secure = sessions.secure_cookies(request)
    response.headers.append("set-cookie", sessions.cookie_header(sessions.SESSION_COOKIE, "", http_only=True,
                                                                 secure=secure, max_age=0).decode("latin-1"))
    return response
