"""Bearer tokens: who is calling, in which role, for which unit.

Tokens are HS256 JWTs signed with MCC_TOKEN_SECRET and minted by `mcc token`. The check is one function
(`decode_token`) behind one FastAPI dependency, so a city's SSO (OIDC) replaces it by verifying its own
tokens and mapping their claims to a `Principal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status

from shared.events.envelope import utcnow
from shared.roles import Role


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    unit_code: str
    name: str | None = None


def mint_token(secret: str, *, subject: str, role: Role | str, unit_code: str, name: str | None = None,
               ttl: timedelta = timedelta(hours=12)) -> str:
    """A signed bearer token for one user."""
    now = utcnow()
    claims = {"sub": subject, "role": Role(role).value, "unit": unit_code, "iat": now, "exp": now + ttl,
              "iss": "mcc"}
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(secret: str, token: str) -> Principal:
    """The principal a token names; raises ValueError when it is invalid or expired."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="mcc",
                            options={"require": ["sub", "exp", "iat"]})
        return Principal(claims["sub"], Role(claims["role"]), str(claims["unit"]), claims.get("name"))
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise ValueError(f"invalid token: {exc}") from exc


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, from `Authorization: Bearer <token>`; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("a bearer token is required")
    secret = request.app.state.token_secret
    try:
        return decode_token(secret, token.strip())
    except ValueError as exc:
        raise _unauthorized(str(exc)) from exc


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role):
    """A dependency that lets only these roles through (403 for the others)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"role {principal.role.value} may not do this")
        return principal

    return Depends(check)
