"""The registry as other services project it: its version (cheap, polled) and a snapshot of what locating needs.

Intake locates incidents in-process from its own copy of this snapshot, so a grid outage does not stop it.
The snapshot carries codes, kinds and polygons only (no members, no phones): what `/lookup` answers point by
point. Both answers come from the index this process serves, so version and grids always agree.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])


@router.get("/version", summary="the registry version (changes with every import) and its grid count")
async def registry_version(request: Request) -> dict[str, int]:
    holder = request.app.state.grid_index
    return {"version": holder.version, "grids": len(holder.index)}


@router.get("/snapshot", summary="every grid's codes, kind and polygon, with the registry version")
async def registry_snapshot(request: Request) -> Response:
    holder = request.app.state.grid_index
    grids = [{"code": g.code, "kind": g.kind, "village_code": g.village_code, "town_code": g.town_code,
              "county_code": g.county_code, "polygon": g.polygon} for g in holder.index.grids]
    # ~10k polygons: orjson writes them several times faster than the default encoder, floats exactly.
    return Response(orjson.dumps({"version": holder.version, "grids": grids}), media_type="application/json")
