"""Grid HTTP API: location lookup and the grid app integration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.grid.adapters.orm import GridEventBase
from services.grid.service import handlers
from shared.deps import UowDep

router = APIRouter(prefix="/api/v1")


def get_index(request: Request) -> handlers.Index:
    return request.app.state.grid_index


IndexDep = Annotated[handlers.Index, Depends(get_index)]


class LocatedPublic(BaseModel):
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str
    flagged: bool


class GridEventCreate(BaseModel):
    category_code: str = Field(min_length=1, max_length=32)
    description: str = Field(min_length=1, max_length=10_000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    reporter_id: str = Field(min_length=1, max_length=64)
    reporter_name: str | None = Field(None, max_length=50)


class GridEventPublic(GridEventBase):
    id: str
    incident_id: str
    created_at: datetime
    updated_at: datetime


@router.get("/lookup", response_model=LocatedPublic, tags=["registry"],
            summary="coordinates → grid → village → town → county")
async def lookup(index: IndexDep, lon: float = Query(ge=-180, le=180), lat: float = Query(ge=-90, le=90)) -> Any:
    found = index.locate(lon, lat)
    return LocatedPublic(grid_code=found.grid_code, village_code=found.village_code, town_code=found.town_code,
                         county_code=found.county_code, located_by=str(found.located_by), flagged=found.flagged)


@router.post("/events", response_model=GridEventPublic, status_code=201, tags=["grid app"],
             summary="a grid worker reports an event")
async def report_event(body: GridEventCreate, uow: UowDep, index: IndexDep) -> Any:
    return await handlers.report_event(uow=uow, index=index, **body.model_dump())


@router.get("/events/{event_id}", response_model=GridEventPublic, tags=["grid app"])
async def read_event(event_id: str, uow: UowDep) -> Any:
    event = await handlers.get_event(uow, event_id=event_id)
    if event is None:
        raise HTTPException(404, detail=f"no grid event {event_id}")
    return event
