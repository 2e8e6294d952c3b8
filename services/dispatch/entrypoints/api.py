"""Dispatch HTTP API: thin routes that parse, call a handler and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from services.dispatch.adapters.orm import WorkOrderBase
from services.dispatch.service import handlers
from shared.deps import UowDep

router = APIRouter(prefix="/api/v1", tags=["orders"])


class WorkOrderPublic(WorkOrderBase):
    id: str
    caller: dict[str, Any] | None = None
    reported_at: datetime
    created_at: datetime
    updated_at: datetime
    sign_deadline: datetime | None = None
    handle_deadline: datetime | None = None


class AuditPublic(BaseModel):
    action: str
    from_state: str | None
    to_state: str
    version: int
    actor: str
    unit_code: str | None
    reason: str | None
    details: dict[str, Any]
    at: datetime
    event_id: str


@router.get("/orders/{order_id}", response_model=WorkOrderPublic, summary="a work order by id or number")
async def read_order(order_id: str, uow: UowDep) -> Any:
    order = await handlers.get_order(uow, order_id=order_id)
    if order is None:
        raise HTTPException(404, detail=f"no work order {order_id}")
    return order


@router.get("/orders/{order_id}/history", response_model=list[AuditPublic], summary="every transition")
async def read_history(order_id: str, uow: UowDep) -> Any:
    order = await handlers.get_order(uow, order_id=order_id)
    if order is None:
        raise HTTPException(404, detail=f"no work order {order_id}")
    return await handlers.order_history(uow, order_id=order.id)


@router.get("/orders", response_model=list[WorkOrderPublic], summary="orders by incident or channel record")
async def list_orders(uow: UowDep, incident_id: str | None = None, source_ref: str | None = None,
                      limit: int = Query(50, ge=1, le=500)) -> Any:
    return await handlers.find_orders(uow, incident_id=incident_id, source_ref=source_ref, limit=limit)
