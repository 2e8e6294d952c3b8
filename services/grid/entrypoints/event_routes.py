"""Routes of the grid app: photos and events (report, batch, changes, resolve, escalate)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from services.grid.domain import photos as photo_rules
from services.grid.entrypoints.deps import IdemDep, IndexDep, KeyDep, answer
from services.grid.entrypoints.schemas import (
    Changes,
    GridEventCreate,
    GridEventPublic,
    Resolution,
    parse_batch_items,
)
from services.grid.service import handlers
from shared.attachments import AttachmentStore
from shared.auth import CurrentPrincipal
from shared.deps import RuntimeDep, UowDep
from shared.errors import Invalid, NotFound
from shared.http import binary_content

router = APIRouter(prefix="/api/v1")


@router.post("/photos", status_code=201, tags=["grid app"],
             summary="upload one photo (JPEG, PNG or WebP); answers its id for events to reference")
async def upload_photo(request: Request, runtime: RuntimeDep, key: KeyDep, idem: IdemDep,
                       file: Annotated[UploadFile, File(description="the image")]) -> Any:
    settings = request.app.state.settings
    limit = settings.photo_max_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise Invalid("file", f"照片超过 {limit} 字节", type="too_large", where="form", status=413)
    return answer(await handlers.store_photo(
        new_uow=runtime.uow, key=key, idempotency_key=idem, content=content, photo_dir=settings.photo_dir,
        attachments=AttachmentStore(settings.attachment_dir, max_bytes=limit)))


@router.get("/photos/{photo_id}", tags=["grid app"], summary="a photo's bytes", response_class=Response,
            responses=binary_content(*photo_rules.ALLOWED))
async def read_photo(photo_id: str, request: Request, uow: UowDep, key: KeyDep) -> Any:
    found = await handlers.photo_file(uow=uow, key=key, photo_id=photo_id,
                                      photo_dir=request.app.state.settings.photo_dir)
    if found is None or not found[0].exists():
        raise NotFound(f"照片 {photo_id} 不存在")
    return FileResponse(found[0], media_type=found[1])


@router.post("/events", status_code=201, tags=["grid app"], response_model=GridEventPublic,
             summary="a grid worker reports an event (Idempotency-Key required)")
async def report_event(body: GridEventCreate, request: Request, runtime: RuntimeDep, index: IndexDep,
                       key: KeyDep, idem: IdemDep) -> Any:
    return answer(await handlers.report_event(
        new_uow=runtime.uow, index=index, categories=request.app.state.categories, key=key,
        idempotency_key=idem, item=body.to_command(), group=request.app.state.group_commit))


@router.post("/events/batch", tags=["grid app"],
             summary="an offline app's events in one call: one result per item, the batch idempotent")
async def report_batch(request: Request, runtime: RuntimeDep, index: IndexDep, key: KeyDep, idem: IdemDep,
                       items: Annotated[list[dict[str, Any]], Body(embed=True, min_length=1)]) -> Any:
    limit = request.app.state.settings.batch_max_items
    if len(items) > limit:
        raise Invalid("items", f"每批最多 {limit} 条", type="too_long")
    return answer(await handlers.report_batch(
        new_uow=runtime.uow, index=index, categories=request.app.state.categories, key=key,
        idempotency_key=idem, items=parse_batch_items(items)))


@router.get("/events", response_model=Changes, tags=["grid app"],
            summary="events in the key's scope that changed after a cursor (poll with since=<cursor>)")
async def changes(uow: UowDep, key: KeyDep, since: int = Query(0, ge=0),
                  limit: int = Query(100, ge=1, le=1000)) -> Any:
    return await handlers.changes_since(uow=uow, key=key, since=since, limit=limit)


@router.get("/events/summary", tags=["grid app"],
            summary="how many events were resolved on the spot, reported and escalated")
async def summary(uow: UowDep, principal: CurrentPrincipal, town_code: str | None = None,
                  county_code: str | None = None) -> Any:
    return await handlers.outcome_counts(uow=uow, scope=principal.area, town_code=town_code,
                                         county_code=county_code)


@router.get("/events/{event_id}", response_model=GridEventPublic, tags=["grid app"])
async def read_event(event_id: str, uow: UowDep, key: KeyDep) -> Any:
    return await handlers.get_event(uow=uow, key=key, event_id=event_id)


@router.post("/events/{event_id}/resolve", response_model=GridEventPublic, tags=["grid app"],
             summary="就地解决: a pending event fixed at the grid, with evidence")
async def resolve_event(event_id: str, body: Resolution, uow: UowDep, key: KeyDep) -> Any:
    return await handlers.resolve_event(uow=uow, key=key, event_id=event_id,
                                        after_photo_ids=body.after_photo_ids, note=body.note)


@router.post("/events/{event_id}/escalate", response_model=GridEventPublic, tags=["grid app"],
             summary="提级: a pending event goes up to intake and dispatch")
async def escalate_event(event_id: str, uow: UowDep, key: KeyDep) -> Any:
    return await handlers.escalate_event(uow=uow, key=key, event_id=event_id)
