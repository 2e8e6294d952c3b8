"""Grid HTTP API: the registry, location lookup, and the grid app integration (API keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError

from services.grid.domain import photos as photo_rules
from services.grid.service import handlers
from shared import ratelimit
from shared.apikeys import ApiKey
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.deps import RuntimeDep, UowDep
from shared.http import field_errors
from shared.idempotency import HEADER as IDEMPOTENCY_HEADER
from shared.idempotency import IdempotencyConflict, Stored, valid_key
from shared.roles import Role

router = APIRouter(prefix="/api/v1")
Admin = Annotated[Principal, require_roles(Role.ADMIN)]


def _rejected(exc: handlers.Rejected) -> HTTPException:
    return HTTPException(exc.status, detail=exc.detail)


def _header_error(status: int, name: str, message: str, type_: str) -> HTTPException:
    return HTTPException(status, detail=[{"field": name, "in": "header", "message": message, "type": type_}])


def get_index(request: Request) -> handlers.Index:
    return request.app.state.grid_index.index


IndexDep = Annotated[handlers.Index, Depends(get_index)]


async def integration_key(request: Request, runtime: RuntimeDep,
                          x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    """The grid app's key (X-Api-Key), counted against its rate limit."""
    key = await handlers.verify_key(uow=runtime.uow(), plaintext=x_api_key, cache=request.app.state.key_cache)
    if key is None:
        raise _header_error(401, "X-Api-Key", "a valid, unrevoked API key is required", "unauthorized")
    settings = request.app.state.settings
    decision = await ratelimit.hit(runtime.redis, name=f"grid:{key.id}", limit=settings.rate_limit_per_minute,
                                   window_s=60)
    if not decision.allowed:
        raise HTTPException(429, detail=f"rate limit of {decision.limit} requests a minute reached for key "
                                        f"{key.id}; retry after {decision.retry_after_s} s",
                            headers=decision.headers())
    return key


KeyDep = Annotated[ApiKey, Depends(integration_key)]


def idempotency_key(key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None) -> str:
    if key is None:
        raise _header_error(422, IDEMPOTENCY_HEADER, "an Idempotency-Key header is required on every create "
                                                     "(phones retry)", "missing")
    if not valid_key(key):
        raise _header_error(422, IDEMPOTENCY_HEADER, "Idempotency-Key must be 1-200 printable ASCII characters "
                                                     "without spaces", "invalid")
    return key


IdemDep = Annotated[str, Depends(idempotency_key)]


def _answer(stored: Stored) -> JSONResponse:
    return JSONResponse(stored.body, status_code=stored.status_code,
                        headers={"Idempotent-Replayed": "true" if stored.replayed else "false"})


async def _once(call: Any) -> JSONResponse:
    try:
        return _answer(await call)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc
    except IdempotencyConflict as exc:
        raise _header_error(422, IDEMPOTENCY_HEADER, str(exc), "conflict") from exc


# ---------------------------------------------------------------- lookup and registry


class LocatedPublic(BaseModel):
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str
    flagged: bool
    distance_m: float | None = None


@router.get("/lookup", response_model=LocatedPublic, tags=["registry"],
            summary="coordinates → grid → village → town → county")
async def lookup(index: IndexDep, lon: float = Query(ge=-180, le=180), lat: float = Query(ge=-90, le=90)) -> Any:
    found = index.locate(lon, lat)
    return LocatedPublic(grid_code=found.grid_code, village_code=found.village_code, town_code=found.town_code,
                         county_code=found.county_code, located_by=str(found.located_by), flagged=found.flagged,
                         distance_m=found.distance_m)


class MemberPublic(BaseModel):
    name: str
    role: str
    phone: str


class GridPublic(BaseModel):
    code: str
    name: str
    kind: str
    dedicated_type: str | None
    village_code: str
    town_code: str
    county_code: str


class GridDetail(GridPublic):
    polygon: dict[str, Any]
    members: list[MemberPublic]


def _mask(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 11 else "****"


@router.get("/grids", response_model=list[GridPublic], tags=["registry"], summary="grids by town, village, kind")
async def list_grids(uow: UowDep, _: CurrentPrincipal, town_code: str | None = None,
                     village_code: str | None = None, kind: Literal["comprehensive", "dedicated"] | None = None,
                     limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)) -> Any:
    return await handlers.list_grids(uow=uow, town_code=town_code, village_code=village_code, kind=kind,
                                     limit=limit, offset=offset)


@router.get("/grids/{code}", response_model=GridDetail, tags=["registry"],
            summary="one grid with its members (phones masked except for admins)")
async def read_grid(code: str, uow: UowDep, principal: CurrentPrincipal) -> Any:
    found = await handlers.get_grid(uow=uow, code=code)
    if found is None:
        raise HTTPException(404, detail=f"no grid {code}")
    grid, members = found
    show = principal.role is Role.ADMIN
    return GridDetail(**grid.model_dump(), members=[
        MemberPublic(name=m.name, role=m.role, phone=m.phone if show else _mask(m.phone)) for m in members])


@router.get("/admin/grids/export", tags=["registry"], summary="the registry as a GeoJSON FeatureCollection")
async def export_grids(uow: UowDep, _: Admin, town_code: str | None = None, county_code: str | None = None) -> Any:
    return await handlers.export_grids(uow=uow, town_code=town_code, county_code=county_code)


@router.post("/admin/grids/import", tags=["registry"],
             summary="replace the grids of the towns a GeoJSON FeatureCollection covers (validated first)")
async def import_grids(request: Request, runtime: RuntimeDep, _: Admin,
                       document: Annotated[dict[str, Any], Body()]) -> Any:
    try:
        summary = await handlers.import_grids(uow=runtime.uow(), document=document)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc
    request.app.state.grid_index = await handlers.build_index(uow=runtime.uow())
    return summary


# ---------------------------------------------------------------- API keys


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope_unit: str | None = Field(None, min_length=6, max_length=16, description="a county or town code")


class KeyPublic(BaseModel):
    id: str
    name: str
    scope_unit: str | None
    created_at: datetime
    revoked_at: datetime | None = None


class KeyIssued(KeyPublic):
    key: str = Field(description="the plaintext key, shown this once")


@router.post("/admin/api-keys", response_model=KeyIssued, status_code=201, tags=["api keys"])
async def issue_key(body: KeyCreate, uow: UowDep, _: Admin) -> Any:
    try:
        record, plaintext = await handlers.issue_key(uow=uow, name=body.name, scope_unit=body.scope_unit)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc
    return KeyIssued(id=record.id, name=record.name, scope_unit=record.scope_unit, created_at=record.created_at,
                     key=plaintext)


@router.get("/admin/api-keys", response_model=list[KeyPublic], tags=["api keys"])
async def list_keys(uow: UowDep, _: Admin) -> Any:
    return [KeyPublic(**k.__dict__) for k in await handlers.list_keys(uow=uow)]


@router.delete("/admin/api-keys/{key_id}", status_code=204, tags=["api keys"])
async def revoke_key(key_id: str, request: Request, uow: UowDep, _: Admin) -> Response:
    if not await handlers.revoke_key(uow=uow, key_id=key_id, cache=request.app.state.key_cache):
        raise HTTPException(404, detail=f"no active key {key_id}")
    return Response(status_code=204)


class WebhookSet(BaseModel):
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://", description="where changes are POSTed")


@router.put("/admin/api-keys/{key_id}/webhook", tags=["api keys"],
            summary="push this key's event changes to a URL, signed (the secret is shown this once)")
async def set_webhook(key_id: str, body: WebhookSet, uow: UowDep, _: Admin) -> Any:
    try:
        return await handlers.set_webhook(uow=uow, key_id=key_id, url=body.url)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc


@router.delete("/admin/api-keys/{key_id}/webhook", status_code=204, tags=["api keys"])
async def remove_webhook(key_id: str, uow: UowDep, _: Admin) -> Response:
    if not await handlers.remove_webhook(uow=uow, key_id=key_id):
        raise HTTPException(404, detail=f"no webhook for key {key_id}")
    return Response(status_code=204)


# ---------------------------------------------------------------- photos


@router.post("/photos", status_code=201, tags=["grid app"],
             summary="upload one photo (JPEG, PNG or WebP); answers its id for events to reference")
async def upload_photo(request: Request, runtime: RuntimeDep, key: KeyDep, idem: IdemDep,
                       file: Annotated[UploadFile, File(description="the image")]) -> Any:
    settings = request.app.state.settings
    limit = settings.photo_max_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise HTTPException(413, detail=[{"field": "file", "in": "form", "type": "too_large",
                                          "message": f"photo larger than {limit} bytes"}])
    if photo_rules.sniff(content[:16]) is None:
        raise HTTPException(415, detail=[{"field": "file", "in": "form", "type": "unsupported_media_type",
                                          "message": "photo must be JPEG, PNG or WebP (judged by its content)"}])
    return await _once(handlers.store_photo(new_uow=runtime.uow, key=key, idempotency_key=idem, content=content,
                                            photo_dir=settings.photo_dir))


@router.get("/photos/{photo_id}", tags=["grid app"], summary="a photo's bytes")
async def read_photo(photo_id: str, request: Request, uow: UowDep, _: KeyDep) -> Any:
    found = await handlers.photo_file(uow=uow, photo_id=photo_id, photo_dir=request.app.state.settings.photo_dir)
    if found is None or not found[0].exists():
        raise HTTPException(404, detail=f"no photo {photo_id}")
    return FileResponse(found[0], media_type=found[1])


# ---------------------------------------------------------------- events

PhotoIds = list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]]


class GridEventCreate(BaseModel):
    category_code: str = Field(min_length=1, max_length=32)
    description: str = Field(min_length=1, max_length=10_000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    reporter_id: str = Field(min_length=1, max_length=64, description="the grid worker's id")
    reporter_name: str | None = Field(None, max_length=50)
    handling: Literal["report", "resolved_on_spot", "pending"] = Field(
        "report", description="上报 at once, 就地解决 (needs after_photo_ids), or pending (resolve or 提级 later)")
    photo_ids: PhotoIds = Field(default_factory=list, max_length=9)
    after_photo_ids: PhotoIds = Field(default_factory=list, max_length=9)
    resolution_note: str | None = Field(None, max_length=2000)
    id: str | None = Field(None, min_length=1, max_length=64, description="the app's own id for this event")

    def to_input(self) -> handlers.EventInput:
        return handlers.EventInput(
            category_code=self.category_code, description=self.description, lon=self.lon, lat=self.lat,
            reporter_id=self.reporter_id, reporter_name=self.reporter_name, handling=self.handling,
            photo_ids=tuple(self.photo_ids), after_photo_ids=tuple(self.after_photo_ids),
            resolution_note=self.resolution_note, client_id=self.id)


class GridEventBatchItem(GridEventCreate):
    id: str = Field(min_length=1, max_length=64, description="the app's own id: the same id is one event")


class GridEventPublic(BaseModel):
    id: str
    client_id: str | None
    incident_id: str
    state: str
    escalated: bool
    category_code: str
    description: str
    lon: float
    lat: float
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str | None
    flagged: bool
    reporter_id: str
    reporter_name: str | None
    photo_ids: list[str]
    after_photo_ids: list[str]
    resolution_note: str | None
    order_number: str | None
    order_state: str | None
    change_seq: int | None
    created_at: datetime
    updated_at: datetime
    reported_at: datetime | None
    resolved_at: datetime | None


class Changes(BaseModel):
    items: list[GridEventPublic]
    cursor: int = Field(description="pass as `since` next time")
    more: bool


_ITEM = TypeAdapter(GridEventBatchItem)


@router.post("/events", status_code=201, tags=["grid app"], response_model=GridEventPublic,
             summary="a grid worker reports an event (Idempotency-Key required)")
async def report_event(body: GridEventCreate, request: Request, runtime: RuntimeDep, index: IndexDep,
                       key: KeyDep, idem: IdemDep) -> Any:
    return await _once(handlers.report_event(
        new_uow=runtime.uow, index=index, categories=request.app.state.categories, key=key,
        idempotency_key=idem, item=body.to_input(), group=request.app.state.group_commit))


@router.post("/events/batch", tags=["grid app"],
             summary="an offline app's events in one call: one result per item, the batch idempotent")
async def report_batch(request: Request, runtime: RuntimeDep, index: IndexDep, key: KeyDep, idem: IdemDep,
                       items: Annotated[list[dict[str, Any]], Body(embed=True, min_length=1)]) -> Any:
    limit = request.app.state.settings.batch_max_items
    if len(items) > limit:
        raise HTTPException(422, detail=[{"field": "items", "in": "body", "type": "too_long",
                                          "message": f"at most {limit} items per batch"}])
    parsed: list[handlers.EventInput | list[dict[str, Any]]] = []
    for n, raw in enumerate(items):
        try:
            parsed.append(_ITEM.validate_python(raw).to_input())
        except ValidationError as exc:
            parsed.append([{**e, "field": f"items[{n}].{e['field']}"} for e in field_errors(exc.errors())])
    return await _once(handlers.report_batch(
        new_uow=runtime.uow, index=index, categories=request.app.state.categories, key=key,
        idempotency_key=idem, items=parsed))


@router.get("/events", response_model=Changes, tags=["grid app"],
            summary="events in the key's scope that changed after a cursor (poll with since=<cursor>)")
async def changes(uow: UowDep, key: KeyDep, since: int = Query(0, ge=0),
                  limit: int = Query(100, ge=1, le=1000)) -> Any:
    return await handlers.changes_since(uow=uow, key=key, since=since, limit=limit)


@router.get("/events/summary", tags=["grid app"],
            summary="how many events were resolved on the spot, reported and escalated")
async def summary(uow: UowDep, _: CurrentPrincipal, town_code: str | None = None,
                  county_code: str | None = None) -> Any:
    return await handlers.outcome_counts(uow=uow, town_code=town_code, county_code=county_code)


@router.get("/events/{event_id}", response_model=GridEventPublic, tags=["grid app"])
async def read_event(event_id: str, uow: UowDep, key: KeyDep) -> Any:
    try:
        return await handlers.get_event(uow=uow, key=key, event_id=event_id)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc


class Resolution(BaseModel):
    after_photo_ids: PhotoIds = Field(min_length=1, max_length=9, description="photos after the fix (evidence)")
    note: str | None = Field(None, max_length=2000)


@router.post("/events/{event_id}/resolve", response_model=GridEventPublic, tags=["grid app"],
             summary="就地解决: a pending event fixed at the grid, with evidence")
async def resolve_event(event_id: str, body: Resolution, uow: UowDep, key: KeyDep) -> Any:
    try:
        return await handlers.resolve_event(uow=uow, key=key, event_id=event_id,
                                            after_photo_ids=body.after_photo_ids, note=body.note)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc


@router.post("/events/{event_id}/escalate", response_model=GridEventPublic, tags=["grid app"],
             summary="提级: a pending event goes up to intake and dispatch")
async def escalate_event(event_id: str, uow: UowDep, key: KeyDep) -> Any:
    try:
        return await handlers.escalate_event(uow=uow, key=key, event_id=event_id)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc


# ---------------------------------------------------------------- patrols


class PatrolStart(BaseModel):
    worker_id: str = Field(min_length=1, max_length=64)
    grid_code: str = Field(min_length=6, max_length=32)
    started_at: AwareDatetime | None = None


class TrackPoint(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    at: AwareDatetime


class TrackPoints(BaseModel):
    points: list[TrackPoint] = Field(min_length=1, max_length=1000)


class PatrolEnd(BaseModel):
    ended_at: AwareDatetime | None = None


@router.post("/patrols", status_code=201, tags=["patrols"], summary="check in: a patrol of one grid starts")
async def start_patrol(body: PatrolStart, runtime: RuntimeDep, key: KeyDep, idem: IdemDep) -> Any:
    return await _once(handlers.start_patrol(new_uow=runtime.uow, key=key, idempotency_key=idem,
                                             worker_id=body.worker_id, grid_code=body.grid_code,
                                             started_at=body.started_at))


@router.post("/patrols/{patrol_id}/points", tags=["patrols"], summary="track points of a patrol under way")
async def add_points(patrol_id: str, body: TrackPoints, uow: UowDep, key: KeyDep) -> Any:
    try:
        return await handlers.add_patrol_points(uow=uow, key=key, patrol_id=patrol_id,
                                                points=[(p.lon, p.lat, p.at) for p in body.points])
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc


@router.post("/patrols/{patrol_id}/end", tags=["patrols"], summary="check out: the patrol ends")
async def end_patrol(patrol_id: str, body: PatrolEnd, uow: UowDep, key: KeyDep) -> Any:
    try:
        return await handlers.end_patrol(uow=uow, key=key, patrol_id=patrol_id, ended_at=body.ended_at)
    except handlers.Rejected as exc:
        raise _rejected(exc) from exc


@router.get("/patrols/coverage", tags=["patrols"],
            summary="who patrolled which grid for how long in a period, against 2 hours a day")
async def coverage(uow: UowDep, _: CurrentPrincipal, start: AwareDatetime = Query(alias="from"),
                   end: AwareDatetime = Query(alias="to"), town_code: str | None = None, county_code: str | None = None,
                   grid_code: str | None = None) -> Any:
    if end <= start:
        raise HTTPException(422, detail=[{"field": "to", "in": "query", "type": "value_error",
                                          "message": "to must be after from"}])
    return await handlers.patrol_coverage(uow=uow, start=start, end=end, town_code=town_code,
                                          county_code=county_code, grid_code=grid_code)
