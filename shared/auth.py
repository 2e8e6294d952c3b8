"""Who is calling, in which role, for which unit: a signed token as a bearer header or a session cookie.

Tokens are HS256 JWTs signed with MCC_TOKEN_SECRET. Scripts send one minted by `mcc token` as
`Authorization: Bearer` (`kind` "script"); browsers carry one issued at sign-in in the `mcc_session` cookie
(`kind` "session", `sub` = account id, `name` = display name; see shared.sessions for CSRF and renewal). An
Authorization header, when present, is the only credential looked at: a request never falls back from a
bad header to the cookie. The check is one function (`decode_token`) behind one FastAPI dependency, so a
city's SSO (OIDC) replaces it by verifying its own tokens and mapping their claims to a `Principal`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status

from shared import ratelimit
from shared.events.envelope import utcnow
from shared.roles import Role, kind_by_code, role_fits_kind
from shared.scope import Scope, principal_area_scope
from shared.sessions import SESSION_COOKIE

DEFAULT_AUDIENCE = "mcc"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    unit_code: str
    name: str | None = None
    kind: str = "script"  # "session": a person signed in through the browser; "script": a minted token
    session_id: str | None = None
    unit_kind: str | None = None  # set at the door from the organisation tree (dispatch) or the unit's code

    @property
    def area(self) -> Scope:
        """The places this caller may see records of (see shared.scope)."""
        return principal_area_scope(self.role, self.unit_code, self.unit_kind)

    @property
    def label(self) -> str:
        """Who did it, for audit rows: the display name when there is one, else the subject."""
        return self.name or self.subject


def mint_token(secret: str, *, subject: str, role: Role | str, unit_code: str, name: str | None = None,
               ttl: timedelta = timedelta(hours=12), kind: str = "script", audience: str = DEFAULT_AUDIENCE,
               extra: dict[str, Any] | None = None) -> str:
    """A signed token for one user or script; `subject` names the person (audit rows record it)."""
    if not subject or not subject.strip():
        raise ValueError("a token must name its subject: the person it acts for")
    now = utcnow()
    claims = {"sub": subject, "role": Role(role).value, "unit": unit_code, "iat": now, "exp": now + ttl,
              "iss": "mcc", "aud": audience, "kind": kind, **(extra or {})}
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


# Tokens this process has verified, until their `exp`: a client sends the same token with every request, and
# verifying it again (PyJWT parses the key and the claims, and checks the HMAC) cost the hotline 3 % of its
# CPU. Only a token that passed every check is kept, keyed by everything the check depended on.
_VERIFIED: OrderedDict[tuple[str, str, str, int | None], tuple[Principal, float]] = OrderedDict()
_VERIFIED_MAX = 4096


def decode_token(secret: str, token: str, *, audience: str = DEFAULT_AUDIENCE,
                 max_lifetime_s: int | None = None) -> Principal:
    """The principal a token names; raises ValueError when it is invalid, expired or lives too long."""
    key = (secret, token, audience, max_lifetime_s)
    found = _VERIFIED.get(key)
    if found is not None:
        if time.time() < found[1]:
            return found[0]
        _VERIFIED.pop(key, None)  # expired: verified again below, which refuses it
    principal, expires = _verify(secret, token, audience=audience, max_lifetime_s=max_lifetime_s)
    _VERIFIED[key] = (principal, expires)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return principal


def _verify(secret: str, token: str, *, audience: str, max_lifetime_s: int | None) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="mcc", audience=audience,
                            options={"require": ["sub", "exp", "iat"]})
        if not isinstance(claims["sub"], str) or not claims["sub"].strip():
            raise ValueError("the token names no subject: every action is recorded against a person")
        if max_lifetime_s is not None and claims["exp"] - claims["iat"] > max_lifetime_s:
            raise ValueError(f"token lives longer than the allowed {max_lifetime_s} s")
        return Principal(claims["sub"], Role(claims["role"]), str(claims["unit"]), claims.get("name"),
                         "session" if claims.get("kind") == "session" else "script",
                         claims.get("sid")), float(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid token: {exc}") from exc


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


def principal_from_request(request: Request) -> Principal | None:
    """The caller from the bearer header or the session cookie; None when there is neither."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("需要登录或提供令牌 (a bearer token is required)")
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
    settings = getattr(request.app.state, "settings", None)
    try:
        return decode_token(request.app.state.token_secret, token.strip(),
                            audience=getattr(settings, "token_audience", DEFAULT_AUDIENCE),
                            max_lifetime_s=getattr(settings, "token_max_lifetime_s", None))
    except ValueError as exc:
        raise _unauthorized(str(exc)) from exc


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(retry_after: int) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": str(retry_after)},
                         detail=f"此地址认证失败次数过多，请 {retry_after} 秒后再试")


def refuse_if_blocked(request: Request) -> None:
    """429 when the client's address made too many failed authentications this window (good credentials too)."""
    limiter = getattr(request.app.state, "auth_failures", None)
    retry_after = limiter.retry_after(client_address(request)) if limiter is not None else None
    if retry_after is not None:
        raise _too_many(retry_after)


async def authentication_failed(request: Request, refusal: Exception) -> Exception:
    """Count a failed authentication against the client's address: the refusal to raise (429 once over)."""
    limiter = getattr(request.app.state, "auth_failures", None)
    if limiter is None:
        return refusal
    runtime = getattr(request.app.state, "runtime", None)
    retry_after = await limiter.failed(getattr(runtime, "redis", None), client_address(request))
    return refusal if retry_after is None else _too_many(retry_after)


async def within_key_rate(request: Request, key: Any) -> None:
    """429 with Retry-After when an integration key passed its requests a minute (settings.rate_limit_per_minute)."""
    limit = getattr(request.app.state.settings, "rate_limit_per_minute", None)
    if limit is None:
        return
    state = request.app.state
    rates = getattr(state, "key_rates", None)
    if rates is None:  # one per app: a process's concurrent requests share their round trips to Redis
        rates = state.key_rates = ratelimit.KeyRates()
    decision = await rates.hit(state.runtime.redis, name=f"{state.runtime.service}:{key.id}", limit=limit)
    if not decision.allowed:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, headers=decision.headers(),
                            detail=f"密钥 {key.id} 已达每分钟 {decision.limit} 次的上限，请 "
                                   f"{decision.retry_after_s} 秒后再试")


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, from `Authorization: Bearer <token>` or the session cookie; 401 otherwise
    (429 for an address that made too many failed attempts)."""
    refuse_if_blocked(request)
    try:
        principal = principal_from_request(request)
    except HTTPException as exc:
        raise await authentication_failed(request, exc) from None
    if principal is None:
        raise _unauthorized("请先登录，或提供令牌 (sign in, or send a bearer token)")
    return admit(request, principal)


def admit(request: Request, principal: Principal) -> Principal:
    """The principal with its unit's kind, or 403 when its role does not fit that unit (API and pages alike)."""
    # Every service refuses a role that does not fit its unit (a city role on a county unit) at the door,
    # before any scope rule can misread it. Dispatch, which owns the organisation tree, answers the unit's
    # kind from it (app.state.unit_kind); the others read it from the code within the configured city.
    kind_of = getattr(request.app.state, "unit_kind", None)
    if kind_of is None:
        city_code = getattr(getattr(request.app.state, "settings", None), "city_code", "320600")
        kind = kind_by_code(principal.unit_code, city_code=city_code)
    else:
        kind = kind_of(principal.unit_code)
    if not role_fits_kind(principal.role, kind):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail=f"角色 {principal.role.value} 与单位 {principal.unit_code} 不相符")
    return replace(principal, unit_kind=kind)


DEFAULT_SECRET = "dev-only-secret-change-me-in-production"
MIN_SECRET_BYTES = 32


def check_token_secret(secret: str, *, demo: bool, strict: bool) -> None:
    """Refuse to run on the published default secret or a short one (strict: a PostgreSQL deployment), warn
    otherwise; `mcc up`'s demo mode (MCC_DEMO=true) is exempt."""
    if demo:
        return
    problem = None
    if secret == DEFAULT_SECRET:
        problem = ("MCC_TOKEN_SECRET is the published default: anyone could mint tokens. Set a long random value "
                   "(openssl rand -hex 32), or MCC_DEMO=true for a demo on this machine only.")
    elif len(secret.encode()) < MIN_SECRET_BYTES:
        problem = f"MCC_TOKEN_SECRET is shorter than {MIN_SECRET_BYTES} bytes"
    if problem and strict:
        raise RuntimeError(problem)
    if problem:
        logging.getLogger("mcc.auth").warning(problem)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role, citywide: bool = False):
    """A dependency that lets only these roles through (403 for the others); with `citywide`, only at the city's
    own unit (what concerns the whole city: topology, the registry, integration keys, the access log)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"角色 {principal.role.value} 无权执行此操作")
        if citywide and principal.unit_kind != "city":
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"此操作仅限市级 {principal.role.value}，{principal.unit_code} 无权执行")
        return principal

    return Depends(check)
