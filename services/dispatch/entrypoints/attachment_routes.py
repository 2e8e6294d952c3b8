"""Routes of order attachments: upload (evidence for a close) and read (grid photos, evidence), in scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import FileResponse

from services.dispatch.domain.lifecycle import Actor
from services.dispatch.entrypoints.api import HolderDep, OrderReader
from services.dispatch.service import handlers
from shared.attachments import AttachmentStore
from shared.deps import UowDep

router = APIRouter(prefix="/api/v1")


def store_of(request: Request) -> AttachmentStore:
    return request.app.state.attachments


@router.post("/attachments", status_code=201, tags=["orders"],
             summary="upload a file (JPEG, PNG, WebP or PDF) to name as evidence: `attachment:<id>` in a close")
async def upload(request: Request, _: OrderReader,
                 file: Annotated[UploadFile, File(description="the photo or document")]) -> Any:
    store = store_of(request)
    content = await file.read(store.max_bytes + 1)
    stored = await handlers.upload_attachment(store=store, content=content)
    return {"id": stored.id, "content_type": stored.content_type, "size": stored.size,
            "evidence": f"attachment:{stored.id}"}


@router.get("/orders/{order_ref}/attachments/{attachment_id}", tags=["orders"],
            summary="an attachment of an order (grid photo, evidence), for whoever may read the order (logged)",
            response_class=FileResponse)
async def read_attachment(order_ref: str, attachment_id: str, request: Request, uow: UowDep, holder: HolderDep,
                          principal: OrderReader) -> Any:
    path, content_type = await handlers.order_attachment(
        uow=uow, holder=holder, actor=Actor.of(principal), order_ref=order_ref, attachment_id=attachment_id,
        store=store_of(request))
    return FileResponse(path, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})
