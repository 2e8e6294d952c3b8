"""Dispatch HTTP API: the organisation tree (units, and its replacement as a whole), edited by the city's admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch.domain.org import UnitKind
from services.dispatch.entrypoints.api import Admin, HolderDep
from services.dispatch.service import handlers
from shared.auth import CurrentPrincipal
from shared.deps import UowDep

router = APIRouter(prefix="/api/v1")


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: UnitKind
    parent_code: str | None = Field(None, max_length=64)
    function: str | None = Field(None, max_length=32)


class UnitOut(BaseModel):
    code: str
    name: str
    kind: str
    parent_code: str | None
    function: str | None


class TopologyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: list[Annotated[dict[str, Any], Field()]] = Field(min_length=1)


@router.get("/units", response_model=list[UnitOut], tags=["topology"], summary="units of the tree")
async def list_units(holder: HolderDep, _: CurrentPrincipal, parent: str | None = Query(None, max_length=64),
                     kind: UnitKind | None = None) -> Any:
    org = holder.policy.org
    units = org.children(parent) if parent else list(org)
    return [UnitOut(code=u.code, name=u.name, kind=u.kind.value, parent_code=u.parent_code, function=u.function)
            for u in units if kind is None or u.kind is kind]


@router.put("/admin/units/{code}", response_model=UnitOut, tags=["topology"], summary="add or change a unit")
async def put_unit(code: str, body: UnitIn, uow: UowDep, holder: HolderDep, _: Admin) -> Any:
    unit = UnitOut(code=code, name=body.name, kind=body.kind.value, parent_code=body.parent_code,
                   function=body.function)
    await handlers.edit_units(uow=uow, holder=holder, units=[unit])
    return unit


@router.delete("/admin/units/{code}", status_code=204, tags=["topology"], summary="remove an empty unit")
async def remove_unit(code: str, uow: UowDep, holder: HolderDep, _: Admin) -> None:
    await handlers.remove_unit(uow=uow, holder=holder, code=code)


@router.put("/admin/topology", tags=["topology"], summary="replace the whole tree (validated first)")
async def put_topology(body: TopologyIn, uow: UowDep, holder: HolderDep, _: Admin) -> Any:
    tree = await handlers.replace_topology(uow=uow, holder=holder, data=body.units)
    return {"units": len(tree)}
