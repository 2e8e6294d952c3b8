"""FastAPI dependency aliases every service uses.

Cheap dependencies are `async def`: FastAPI runs a plain `def` dependency in its thread pool, one hop
per request for a dictionary lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.runtime import Runtime
from shared.uow import UnitOfWork


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_uow(request: Request) -> UnitOfWork:
    return request.app.state.runtime.uow()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]
