"""Browser sessions: the signed token in an HttpOnly cookie, CSRF double-submit, sliding renewal.

The cookie `mcc_session` carries the same HS256 token a script sends as `Authorization: Bearer`, so every
service checks both the same way (shared.auth). A cookie is sent by the browser on its own, so unsafe
methods authenticated by it need proof that the page itself sent them: the `mcc_csrf` cookie (readable by
the page, not by another site) repeated in the `X-CSRF-Token` header or the `csrf_token` form field.
Requests that carry a bearer token or an API key are exempt: another site cannot make a browser add those
headers.

Session tokens live `session_ttl_s` (15 min by default). While the person keeps working, any service
re-issues the cookie once less than half of that remains, for at most `session_max_s` after sign-in. A
re-issue needs the session to be live in Redis (`mcc:session:<sid>`, removed by sign-out and by any change
to the account); dispatch, which owns the accounts, also checks the account is still active. So a
signed-out or disabled person's cookie stops working within one token lifetime everywhere; if Redis cannot
be reached, nothing is renewed and the token simply runs out.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import jwt
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mcc.sessions")

SESSION_COOKIE = "mcc_session"
CSRF_COOKIE = "mcc_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

SessionCheck = Callable[[dict[str, Any]], Awaitable[bool]]


def _session_key(sid: str) -> str:
    return f"mcc:session:{sid}"


def _account_key(account_id: str) -> str:
    return f"mcc:account-sessions:{account_id}"


async def open_session(redis: Any, *, account_id: str, max_s: int) -> str:
    """Register a new live session for an account; its id goes into the token as `sid`."""
    sid = secrets.token_urlsafe(16)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(_session_key(sid), account_id, ex=max_s)
        pipe.sadd(_account_key(account_id), sid)
        pipe.expire(_account_key(account_id), max_s)
        await pipe.execute()
    return sid


async def close_session(redis: Any, sid: str) -> None:
    """End one session: it is no longer renewed anywhere."""
    await redis.delete(_session_key(sid))


async def close_account_sessions(redis: Any, account_id: str) -> int:
    """End every session of an account (disabled, moved, new role or password); how many there were."""
    sids = [s.decode() if isinstance(s, bytes) else s for s in await redis.smembers(_account_key(account_id))]
    if sids:
        await redis.delete(*[_session_key(s) for s in sids])
    await redis.delete(_account_key(account_id))
    return len(sids)


async def session_live(redis: Any, sid: str | None) -> bool:
    """Whether a session may be renewed; False when Redis cannot say (the token then runs out)."""
    if not sid:
        return False
    try:
        return bool(await redis.exists(_session_key(sid)))
    except (RedisError, OSError) as exc:
        log.warning("session not renewed: redis unavailable", extra={"error": str(exc)})
        return False


def cookie_header(name: str, value: str, *, http_only: bool, secure: bool, max_age: int | None = None) -> bytes:
    """One Set-Cookie header value, SameSite=Lax, for the whole host (cookies on a host ignore the port)."""
    parts = [f"{name}={value}", "Path=/", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


def secure_cookies(request: Request | Scope) -> bool:
    """Mark cookies Secure when the setting says so, or when the request came over https (or a proxy says so)."""
    scope = request.scope if isinstance(request, Request) else request
    setting = getattr(getattr(scope["app"].state, "settings", None), "session_cookie_secure", None)
    if setting is not None:
        return bool(setting)
    headers = dict(scope.get("headers") or [])
    return scope.get("scheme") == "https" or headers.get(b"x-forwarded-proto", b"").lower() == b"https"


def new_csrf_value() -> str:
    """A fresh random CSRF token (set at sign-in, so a token seen before sign-in is not the one after)."""
    return secrets.token_urlsafe(24)


def csrf_token(request: Request) -> str:
    """The CSRF token a page embeds in its forms (and htmx in its header); set as a cookie if new."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    state = request.scope.setdefault("state", {})
    if "mcc_csrf_new" not in state:
        state["mcc_csrf_new"] = new_csrf_value()
    return state["mcc_csrf_new"]


def _exempt(headers: dict[bytes, bytes]) -> bool:
    """Bearer and API-key requests: no browser sends these on another site's behalf."""
    auth = headers.get(b"authorization", b"")
    return bool(auth.strip()) or bool(headers.get(b"x-api-key"))


def _csrf_refused() -> JSONResponse:
    return JSONResponse({"detail": [{"field": CSRF_FIELD, "in": "header", "type": "csrf_failed",
                                     "message": "页面已过期或来源不明，请刷新页面后重试"}]}, status_code=403)


class SessionMiddleware:
    """CSRF double-submit on cookie-authenticated unsafe requests, and sliding renewal of the session cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        cookies = Request(scope).cookies
        by_cookie = bool(cookies.get(SESSION_COOKIE)) and not _exempt(headers)
        if by_cookie and scope["method"] in UNSAFE_METHODS:
            supplied = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
            if not supplied and headers.get(b"content-type", b"").decode("latin-1").startswith(_FORMS):
                supplied, receive = await _form_field(scope, receive)
            expected = cookies.get(CSRF_COOKIE, "")
            if not expected or not supplied or not hmac.compare_digest(expected.encode(), supplied.encode()):
                await _csrf_refused()(scope, receive, send)
                return
        renewed = await _renewal(scope, cookies[SESSION_COOKIE]) if by_cookie else None

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers", []))
                sets_session = any(k.lower() == b"set-cookie" and v.startswith(SESSION_COOKIE.encode() + b"=")
                                   for k, v in out)
                if renewed and not sets_session:
                    out.append((b"set-cookie", renewed))
                new_csrf = scope.get("state", {}).get("mcc_csrf_new")
                if new_csrf:
                    out.append((b"set-cookie", cookie_header(CSRF_COOKIE, new_csrf, http_only=False,
                                                             secure=secure_cookies(scope))))
                message = {**message, "headers": out}
            await send(message)

        await self.app(scope, receive, send_with_cookies)


async def _form_field(scope: Scope, receive: Receive) -> tuple[str, Receive]:
    """The csrf_token form field, and a receive that replays the body for the route."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)

    def replayer() -> Receive:
        done = False

        async def replay() -> Message:
            nonlocal done
            if done:
                return await receive()
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    try:
        form = await Request(scope, replayer()).form()
        value = form.get(CSRF_FIELD)
        await form.close()
    except Exception:  # noqa: BLE001 - a body we cannot parse carries no token; the route will say what is wrong
        value = None
    return (value if isinstance(value, str) else ""), replayer()


async def _renewal(scope: Scope, token: str) -> bytes | None:
    """A fresh session cookie when less than half the lifetime remains and the session is still live."""
    app = scope["app"]
    settings = getattr(app.state, "settings", None)
    runtime = getattr(app.state, "runtime", None)
    secret = getattr(app.state, "token_secret", None)
    if settings is None or runtime is None or secret is None:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="mcc", audience=settings.token_audience)
    except jwt.PyJWTError:
        return None
    now = int(time.time())
    ttl, max_s = settings.session_ttl_s, settings.session_max_s
    if claims.get("kind") != "session" or claims["exp"] - now >= ttl / 2:
        return None
    ends = int(claims.get("auth_time", claims["iat"])) + max_s
    if now >= ends or not await session_live(runtime.redis, claims.get("sid")):
        return None
    check: SessionCheck | None = getattr(app.state, "session_check", None)
    if check is not None and not await check(claims):
        return None
    fresh = {**claims, "iat": now, "exp": min(now + ttl, ends)}
    value = jwt.encode(fresh, secret, algorithm="HS256")
    return cookie_header(SESSION_COOKIE, value, http_only=True, secure=secure_cookies(scope))


def parse_set_cookie(header: str) -> dict[str, str]:
    """name → value of one Set-Cookie header (for tests and clients)."""
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    return {k: m.value for k, m in jar.items()}
