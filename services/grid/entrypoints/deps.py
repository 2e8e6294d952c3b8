"""What grid's routes depend on: admin role, the lookup index, the grid app's key and Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from services.grid.service import handlers
from shared import ratelimit
from shared.apikeys import ApiKey
from shared.auth import Principal, authentication_failed, refuse_if_blocked, require_roles
from shared.deps import RuntimeDep
from shared.idempotency import HEADER as IDEMPOTENCY_HEADER
from shared.idempotency import Stored, valid_key
from shared.roles import Role

Admin = Annotated[Principal, require_roles(Role.ADMIN, citywide=True)]  # keys and the registry are the city's


def _header_error(status: int, name: str, message: str, type_: str) -> HTTPException:
    return HTTPException(status, detail=[{"field": name, "in": "header", "message": message, "type": type_}])


async def get_index(request: Request) -> handlers.Index:
    return request.app.state.grid_index.index


IndexDep = Annotated[handlers.Index, Depends(get_index)]


async def integration_key(request: Request, runtime: RuntimeDep,
                          x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    """The grid app's key (X-Api-Key), counted against its rate limit; a wrong key counts against the client
    address's failed authentications."""
    refuse_if_blocked(request)
    key = await handlers.verify_key(uow=runtime.uow(), plaintext=x_api_key, cache=request.app.state.key_cache)
    if key is None:
        refusal = _header_error(401, "X-Api-Key", "a valid, unrevoked API key is required", "unauthorized")
        raise (await authentication_failed(request, refusal) if x_api_key else refusal)
    settings = request.app.state.settings
    decision = await ratelimit.hit(runtime.redis, name=f"grid:{key.id}", limit=settings.rate_limit_per_minute,
                                   window_s=60)
    if not decision.allowed:
        raise HTTPException(429, detail=f"密钥 {key.id} 已达每分钟 {decision.limit} 次的上限，请 "
                                        f"{decision.retry_after_s} 秒后再试",
                            headers=decision.headers())
    return key


KeyDep = Annotated[ApiKey, Depends(integration_key)]


async def idempotency_key(key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None) -> str:
    if key is None:
        raise _header_error(422, IDEMPOTENCY_HEADER, "an Idempotency-Key header is required on every create "
                                                     "(phones retry)", "missing")
    if not valid_key(key):
        raise _header_error(422, IDEMPOTENCY_HEADER, "Idempotency-Key must be 1-200 printable ASCII characters "
                                                     "without spaces", "invalid")
    return key


IdemDep = Annotated[str, Depends(idempotency_key)]


def answer(stored: Stored) -> JSONResponse:
    return JSONResponse(stored.body, status_code=stored.status_code,
                        headers={"Idempotent-Replayed": "true" if stored.replayed else "false"})
