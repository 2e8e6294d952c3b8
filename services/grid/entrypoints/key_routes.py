"""Routes of integration keys and their webhooks (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.grid.entrypoints.deps import Admin
from services.grid.entrypoints.schemas import KeyCreate, KeyIssued, KeyPublic, WebhookSet
from services.grid.service import handlers
from shared.deps import UowDep
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1")


@router.post("/admin/api-keys", response_model=KeyIssued, status_code=201, tags=["api keys"])
async def issue_key(body: KeyCreate, uow: UowDep, _: Admin) -> Any:
    record, plaintext = await handlers.issue_key(uow=uow, name=body.name, scope_unit=body.scope_unit)
    return KeyIssued(id=record.id, name=record.name, scope_unit=record.scope_unit, created_at=record.created_at,
                     key=plaintext)


@router.get("/admin/api-keys", response_model=list[KeyPublic], tags=["api keys"])
async def list_keys(uow: UowDep, _: Admin) -> Any:
    return [KeyPublic(**k.__dict__) for k in await handlers.list_keys(uow=uow)]


@router.delete("/admin/api-keys/{key_id}", status_code=204, tags=["api keys"])
async def revoke_key(key_id: str, request: Request, uow: UowDep, _: Admin) -> Response:
    if not await handlers.revoke_key(uow=uow, key_id=key_id, cache=request.app.state.key_cache):
        raise NotFound(f"有效密钥 {key_id} 不存在")
    return Response(status_code=204)


@router.put("/admin/api-keys/{key_id}/webhook", tags=["api keys"],
            summary="push this key's event changes to a URL, signed (the secret is shown this once)")
async def set_webhook(key_id: str, body: WebhookSet, request: Request, uow: UowDep, _: Admin) -> Any:
    return await handlers.set_webhook(uow=uow, key_id=key_id, url=body.url,
                                      allowed=request.app.state.webhook_allowed)


@router.delete("/admin/api-keys/{key_id}/webhook", status_code=204, tags=["api keys"])
async def remove_webhook(key_id: str, uow: UowDep, _: Admin) -> Response:
    if not await handlers.remove_webhook(uow=uow, key_id=key_id):
        raise NotFound(f"密钥 {key_id} 没有登记回调地址")
    return Response(status_code=204)
