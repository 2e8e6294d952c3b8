"""Who is looking at a page: the principal from the session cookie (or a bearer header), as shared.auth reads
it; people without one go to dispatch's sign-in page. CSRF on unsafe requests is shared.sessions'
middleware's job (every service has it); a page makes sure the browser holds the `mcc_csrf` cookie that
htmx repeats in `X-CSRF-Token` (base.html, mcc.js).

`MCC_WEB_TOKEN_LOGIN=true` lets a development machine put a token from `mcc token` into the session cookie
with `?token=<jwt>` on any page. It is off unless set: a demo aid, never a production sign-in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from shared.auth import Principal, admit, decode_token, principal_from_request
from shared.roles import Role
from shared.sessions import CSRF_COOKIE, SESSION_COOKIE, cookie_header, csrf_token, secure_cookies
from shared.web import public_url


class SignInRequired(Exception):
    """The page needs a person; the handler answers with this response (a redirect)."""

    def __init__(self, response: Response) -> None:
        super().__init__("sign-in required")
        self.response = response


def token_login_enabled() -> bool:
    return os.environ.get("MCC_WEB_TOKEN_LOGIN", "").lower() in ("1", "true", "yes")


def _signin_redirect(request: Request) -> RedirectResponse:
    target = quote(str(request.url), safe="")
    return RedirectResponse(f"{public_url('dispatch')}/signin?next={target}", status_code=303)


def _token_exchange(request: Request, token: str) -> RedirectResponse:
    response = RedirectResponse(str(request.url.remove_query_params("token")), status_code=303)
    secure = secure_cookies(request)
    response.raw_headers.append((b"set-cookie", cookie_header(SESSION_COOKIE, token, http_only=True, secure=secure)))
    return response


def page_principal(request: Request, roles: Iterable[Role]) -> Principal:
    """The person behind a page request, checked against the page's roles; else a redirect to sign-in."""
    token = request.query_params.get("token")
    if token and token_login_enabled() and request.method == "GET":
        settings = request.app.state.settings
        try:
            decode_token(request.app.state.token_secret, token, audience=settings.token_audience,
                         max_lifetime_s=settings.token_max_lifetime_s)
        except ValueError as exc:
            raise HTTPException(401, detail="令牌无效或已过期") from exc
        raise SignInRequired(_token_exchange(request, token))
    try:
        principal = principal_from_request(request)
    except HTTPException as exc:
        if request.headers.get("authorization"):
            raise
        raise SignInRequired(_signin_redirect(request)) from exc
    if principal is None:
        raise SignInRequired(_signin_redirect(request))
    if principal.role not in set(roles):
        raise HTTPException(403, detail=f"{principal.role.value} 无权使用此页面")
    principal = admit(request, principal)  # the same door as the API: a role must fit its unit
    request.state.principal = principal
    return principal


def ensure_csrf_cookie(request: Request, response: Response) -> Response:
    """A page hands the browser a CSRF token to repeat on changes, when it has none yet."""
    if not request.cookies.get(CSRF_COOKIE):
        csrf_token(request)  # shared.sessions' middleware sets the cookie on the way out
    return response


def install(app) -> None:  # noqa: ANN001 - a FastAPI app
    """Answer SignInRequired with its redirect (or the token-exchange cookie) in any service."""

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> Response:
        return exc.response
