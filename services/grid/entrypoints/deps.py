"""What grid's routes depend on: admin role, the lookup index, the grid app's key and Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from services.grid.service import handlers
from services.grid.service.handlers.common import KEYS
from shared import apikeys
from shared.auth import Principal, require_roles
from shared.idempotency import HEADER as IDEMPOTENCY_HEADER
from shared.idempotency import Stored, valid_key
from shared.roles import Role

Admin = Annotated[Principal, require_roles(Role.ADMIN, citywide=True)]  # keys and the registry are the city's


def _header_error(status: int, name: str, message: str, type_: str) -> HTTPException:
    return HTTPException(status, detail=[{"field": name, "in": "header", "message": message, "type": type_}])


async def get_index(request: Request) -> handlers.Index:
    return request.app.state.grid_index.index


IndexDep = Annotated[handlers.Index, Depends(get_index)]


def _no_key() -> HTTPException:
    return _header_error(401, "X-Api-Key", "a valid, unrevoked API key is required", "unauthorized")


# Missing, wrong or revoked alike: grid answers one 401 (the check itself is shared.apikeys').
KeyDep = apikeys.header_key(KEYS, missing=_no_key, invalid=_no_key)


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
