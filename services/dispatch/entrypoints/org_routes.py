"""Dispatch HTTP API: the organisation tree as a feed for the other services (intake names the unit responsible
in Open311 and places addresses by it; hotline names units on its console). Public, like grid's registry feed:
codes, names and kinds of a city's offices are what its own website lists, and no person or order is in it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from services.dispatch.entrypoints.topology_routes import UnitOut
from services.dispatch.service import org_feed
from shared.deps import UowDep

router = APIRouter(prefix="/api/v1/org", tags=["topology"])


class TreeVersion(BaseModel):
    version: int


class Tree(BaseModel):
    version: int
    units: list[UnitOut]  # as GET /api/v1/units answers them


@router.get("/version", response_model=TreeVersion, summary="the organisation tree's version (poll this)")
async def tree_version(uow: UowDep) -> Any:
    return {"version": await org_feed.tree_version(uow=uow)}


@router.get("/tree", response_model=Tree, summary="every unit of the organisation tree, with its version")
async def tree(uow: UowDep) -> Any:
    return await org_feed.tree(uow=uow)
