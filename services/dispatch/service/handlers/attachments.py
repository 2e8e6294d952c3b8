"""Attachments of work orders (附件): read by whoever may read the order, uploaded as evidence for a close.

Grid photos arrive with the incident (`IncidentAccepted.attachments`) and are kept on the order row; a unit
uploads evidence first (`upload_attachment`, content-addressed, size- and type-limited) and names it in the
close's `evidence` as `attachment:<id>`, which adds it to the order in the close's own transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import Actor, InvalidCommand
from services.dispatch.service.handlers.common import PolicyHolder
from services.dispatch.service.handlers.reading import read_order
from shared.attachments import AttachmentRefused, AttachmentStore, Stored
from shared.errors import Invalid, NotFound

PREFIX = "attachment:"
_STATUS = {"too_large": 413, "unsupported_type": 415, "empty": 422}


async def upload_attachment(*, store: AttachmentStore, content: bytes) -> Stored:
    """Keep an uploaded file (content-addressed; JPEG, PNG, WebP or PDF within the size limit)."""
    try:
        return await asyncio.to_thread(store.put, content)
    except AttachmentRefused as exc:
        raise Invalid("file", str(exc), type=exc.reason, where="form", status=_STATUS[exc.reason]) from exc


async def order_attachment(*, uow: DispatchUnitOfWork, holder: PolicyHolder, actor: Actor, order_ref: str,
                           attachment_id: str, store: AttachmentStore) -> tuple[Path, str]:
    """An attachment's file and type, for someone who may read the order (the read is logged as the order's)."""
    # Another unit's order is absent, as in every read (OrderNotVisible is a NotFound).
    row, _, _ = await read_order(uow=uow, holder=holder, actor=actor, order_ref=order_ref, view="attachment")
    if not any(a.get("id") == attachment_id for a in row.attachments or ()):
        raise NotFound(f"工单 {row.number} 没有附件 {attachment_id}")
    found = await asyncio.to_thread(store.find, attachment_id)
    if found is None:
        raise NotFound(f"附件 {attachment_id} 的文件不在附件库中 (not in the attachment store)")
    path, stored = found
    return path, stored.content_type


async def evidence_attachments(evidence: Sequence[str], *, store: AttachmentStore | None, actor: Actor,
                               now: datetime) -> list[dict[str, Any]]:
    """The attachments a close names as `attachment:<id>`, each checked to be in the store (422 otherwise)."""
    ids = [e.removeprefix(PREFIX) for e in evidence if e.startswith(PREFIX)]
    if not ids:
        return []
    if store is None:
        raise InvalidCommand("this service keeps no attachments")
    out = []
    for attachment_id in ids:
        found = await asyncio.to_thread(store.find, attachment_id)
        if found is None:
            raise InvalidCommand(f"未找到附件 {attachment_id}：请先上传 (upload it first: POST /api/v1/attachments)")
        stored = found[1]
        out.append({"id": stored.id, "content_type": stored.content_type, "size": stored.size, "kind": "evidence",
                    "added_at": now.isoformat(), "added_by": actor.subject})
    return out
