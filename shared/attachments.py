"""Attachments of work orders (附件): grid photos, documents, closing evidence. Content-addressed on disk.

An attachment's id is the SHA-256 of its bytes, so the same photo uploaded twice, or sent by grid and then
attached again as evidence, is one file; a file is written to a temporary name and renamed, so a reader never
sees half of one and a retry rewrites the same bytes. Only the types below are kept, judged by the content's
first bytes, never by a name or a declared type. The store is one directory (`MCC_ATTACHMENT_DIR`) that every
service reaches: grid writes photos into it, dispatch serves them to the units that may read the order.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}
_EXTENSIONS = {ext: kind for kind, ext in TYPES.items()}
_ID = re.compile(r"^[0-9a-f]{64}$")


class AttachmentRefused(ValueError):
    """Bytes the store does not keep: `reason` is too_large, unsupported_type or empty."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Stored:
    id: str
    content_type: str
    size: int


def sniff(head: bytes) -> str | None:
    """The type the leading bytes announce (JPEG, PNG, WebP or PDF), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def is_id(text: str) -> bool:
    return bool(_ID.match(text))


class AttachmentStore:
    """One content-addressed directory: ab/abcdef….jpg."""

    def __init__(self, root: str | Path, *, max_bytes: int = 10_000_000) -> None:
        self.root, self.max_bytes = Path(root), max_bytes

    def check(self, content: bytes) -> Stored:
        """What the bytes would be stored as; raises AttachmentRefused for what is not kept."""
        if not content:
            raise AttachmentRefused("empty", "附件为空 (the attachment is empty)")
        if len(content) > self.max_bytes:
            raise AttachmentRefused("too_large", f"附件超过 {self.max_bytes} 字节 (larger than {self.max_bytes} bytes)")
        content_type = sniff(content[:16])
        if content_type is None:
            raise AttachmentRefused("unsupported_type",
                                    "附件须为 JPEG、PNG、WebP 图片或 PDF (judged by its content)")
        return Stored(hashlib.sha256(content).hexdigest(), content_type, len(content))

    def put(self, content: bytes) -> Stored:
        """Keep the bytes (once); blocking file I/O: call it from a worker thread in a request."""
        stored = self.check(content)
        target = self.root / stored.id[:2] / f"{stored.id}.{TYPES[stored.content_type]}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{uuid.uuid4().hex}.part")
            partial.write_bytes(content)
            partial.replace(target)
        return stored

    def find(self, attachment_id: str) -> tuple[Path, Stored] | None:
        """Where an attachment's bytes are, with its type and size; None when the store has no such file."""
        if not is_id(attachment_id):
            return None
        folder = self.root / attachment_id[:2]
        for ext, content_type in _EXTENSIONS.items():
            path = folder / f"{attachment_id}.{ext}"
            if path.is_file():
                return path, Stored(attachment_id, content_type, path.stat().st_size)
        return None
