"""Who is looking at a page: the signed session cookie (`mcc_session`), with double-submit CSRF for changes.

The cookie carries the same signed JWT a bearer header does (the contract in docs/consoles.md). Pages send
people without a valid cookie to dispatch's sign-in page. Unsafe requests from a page must repeat the
`mcc_csrf` cookie in the `X-CSRF-Token` header (htmx does it: base.html puts the cookie in `hx-headers`) or in
a `csrf_token` form field; a request authenticated by a Bearer header is exempt, as in shared/auth.py.

`MCC_WEB_TOKEN_LOGIN=true` lets a development machine put a token from `mcc token` into the cookie with
`?token=<jwt>` on any page; it is off unless set, and meant for demos and for the time before sign-in.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from shared.auth import Principal, decode_token
from shared.roles import Role
from shared.web import public_url

SESSION_COOKIE = "mcc_session"
CSRF_COOKIE = "mcc_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """The page needs a person; the handler answers with a redirect to sign-in."""

    def __init__(self, response: Response) -> None:
        super().__init__("sign-in required")
        self.response = response


def token_login_enabled() -> bool:
    return os.environ.get("MCC_WEB_TOKEN_LOGIN", "").lower() in ("1", "true", "yes")


def set_session(response: Response, token: str, *, secure: bool = False) -> None:
    """Put a signed token into the session cookie and give the page a CSRF token to repeat."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, samesite="lax", secure=secure,
                        path="/")


def _signin_redirect(request: Request) -> RedirectResponse:
    target = quote(str(request.url), safe="")
    return RedirectResponse(f"{public_url('dispatch')}/signin?next={target}", status_code=303)


def page_principal(request: Request, roles: Iterable[Role]) -> Principal:
    """The person behind a page request (cookie or bearer), checked against the page's roles and CSRF."""
    token = request.query_params.get("token")
    if token and token_login_enabled() and request.method == "GET":
        try:
            decode_token(request.app.state.token_secret, token)
        except ValueError as exc:
            raise HTTPException(401, detail="令牌无效或已过期") from exc
        response = RedirectResponse(str(request.url.remove_query_params("token")), status_code=303)
        set_session(response, token, secure=request.url.scheme == "https")
        raise SignInRequired(response)
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
    raw = bearer or request.cookies.get(SESSION_COOKIE, "")
    if not raw:
        raise SignInRequired(_signin_redirect(request))
    try:
        principal = decode_token(request.app.state.token_secret, raw)
    except ValueError as exc:
        raise SignInRequired(_signin_redirect(request)) from exc
    if not bearer and request.method in UNSAFE:
        check_csrf(request)
    if principal.role not in set(roles):
        raise HTTPException(403, detail=f"{principal.role.value} 无权使用此页面")
    request.state.principal = principal
    return principal


def check_csrf(request: Request, form_token: str | None = None) -> None:
    """Double submit: the `mcc_csrf` cookie and the header (or form field) must match."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER) or form_token or ""
    if not cookie or not hmac.compare_digest(cookie, sent):
        raise HTTPException(403, detail="CSRF 校验失败：请刷新页面后重试")


def ensure_csrf_cookie(request: Request, response: Response) -> Response:
    """A page signed in by a cookie without a CSRF token gets one, so its forms can post."""
    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, samesite="lax", path="/",
                            secure=request.url.scheme == "https")
    return response


def install(app) -> None:  # noqa: ANN001 - a FastAPI app
    """Answer SignInRequired with its redirect (or the token-exchange cookie) in any service."""

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> Response:
        return exc.response
