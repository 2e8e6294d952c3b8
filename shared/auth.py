"""Who is calling, in which role, for which unit: a signed token as a bearer header or a session cookie.

Tokens are HS256 JWTs signed with MCC_TOKEN_SECRET. Scripts send one minted by `mcc token` as
`Authorization: Bearer` (`kind` "script"); browsers carry one issued at sign-in in the `mcc_session` cookie
(`kind` "session", `sub` = account id, `name` = display name; see shared.sessions for CSRF and renewal). An
Authorization header, when present, is the only credential looked at: a request never falls back from a
bad header to the cookie. The check is one function (`decode_token`) behind one FastAPI dependency, so a
city's SSO (OIDC) replaces it by verifying its own tokens and mapping their claims to a `Principal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status

from shared.events.envelope import utcnow
from shared.roles import Role
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

    @property
    def label(self) -> str:
        """Who did it, for audit rows: the display name when there is one, else the subject."""
        return self.name or self.subject


def mint_token(secret: str, *, subject: str, role: Role | str, unit_code: str, name: str | None = None,
               ttl: timedelta = timedelta(hours=12), kind: str = "script", audience: str = DEFAULT_AUDIENCE,
               extra: dict[str, Any] | None = None) -> str:
    """A signed token for one user or script."""
    now = utcnow()
    claims = {"sub": subject, "role": Role(role).value, "unit": unit_code, "iat": now, "exp": now + ttl,
              "iss": "mcc", "aud": audience, "kind": kind, **(extra or {})}
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(secret: str, token: str, *, audience: str = DEFAULT_AUDIENCE,
                 max_lifetime_s: int | None = None) -> Principal:
    """The principal a token names; raises ValueError when it is invalid, expired or lives too long."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="mcc", audience=audience,
                            options={"require": ["sub", "exp", "iat"]})
        if max_lifetime_s is not None and claims["exp"] - claims["iat"] > max_lifetime_s:
            raise ValueError(f"token lives longer than the allowed {max_lifetime_s} s")
        return Principal(claims["sub"], Role(claims["role"]), str(claims["unit"]), claims.get("name"),
                         "session" if claims.get("kind") == "session" else "script", claims.get("sid"))
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
            raise _unauthorized("a bearer token is required")
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


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, from `Authorization: Bearer <token>` or the session cookie; 401 otherwise."""
    principal = principal_from_request(request)
    if principal is None:
        raise _unauthorized("sign in, or send a bearer token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role):
    """A dependency that lets only these roles through (403 for the others)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"role {principal.role.value} may not do this")
        return principal

    return Depends(check)
