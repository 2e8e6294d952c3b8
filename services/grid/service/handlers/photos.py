"""Photos a grid app uploads: content-addressed on disk, recorded once per Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.grid.adapters.orm import Photo
from services.grid.adapters.uow import GridUnitOfWork
from services.grid.domain import photos as photo_rules
from services.grid.service.handlers.common import IDEMPOTENCY, covers_area
from shared import apikeys
from shared.attachments import AttachmentStore, sniff
from shared.errors import Invalid
from shared.events.envelope import utcnow
from shared.idempotency import Stored, run_once
from shared.scope import key_scope


async def store_photo(*, new_uow: Callable[[], GridUnitOfWork], key: apikeys.ApiKey, idempotency_key: str,
                      content: bytes, photo_dir: str, attachments: AttachmentStore | None = None) -> Stored:
    """Keep an uploaded photo on disk (content-addressed) and record it (415 for what is not a photo by its
    content). It goes into the shared attachment store too, where dispatch serves it with the work order."""
    content_type = photo_rules.photo_type(sniff(content[:16]))
    if content_type is None:
        raise Invalid("file", "照片须为 JPEG、PNG 或 WebP（按文件内容判断）",
                      type="unsupported_media_type", where="form", status=415)
    pid = photo_rules.photo_id(content)
    relative = photo_rules.relative_path(pid, content_type)
    await asyncio.to_thread(_write_once, Path(photo_dir) / relative, content)
    if attachments is not None:
        await asyncio.to_thread(attachments.put, content)  # same SHA-256 id as the photo's

    async def create(uow: GridUnitOfWork) -> tuple[int, Any]:
        await uow.photos.add_once(Photo(id=pid, content_type=content_type, size=len(content), path=relative,
                                        key_id=key.id, created_at=utcnow()))
        return 201, {"id": pid, "content_type": content_type, "size": len(content)}

    return await run_once(new_uow, IDEMPOTENCY, scope=f"grid:{key.id}:photos", key=idempotency_key,
                          fingerprint=pid, create=create)


def _write_once(target: Path, content: bytes) -> None:
    if target.exists():
        return
    # Write then rename: a reader never sees half a file, and a retry rewrites the same bytes.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{uuid.uuid4().hex}.part")
    partial.write_bytes(content)
    partial.replace(target)


async def photo_file(*, uow: GridUnitOfWork, key: apikeys.ApiKey, photo_id: str,
                     photo_dir: str) -> tuple[Path, str] | None:
    """Where a photo's bytes are, and their type, for the key that uploaded it or a key whose scope covers the
    uploader's (None otherwise, as if there were no such photo: ids are hashes of the content)."""
    async with uow:
        found = await uow.photos.with_owner_scope(photo_id)
        if found is None:
            return None
        photo, owner_scope = found
        if photo.key_id != key.id and not await covers_area(uow, key_scope(key.scope_unit), owner_scope):
            return None
    return Path(photo_dir) / photo.path, photo.content_type
