"""Which files are photos: judged by content (shared/attachments.sniff reads the first bytes), never by name or
declared type; of the attachment types only images are photos."""

from __future__ import annotations

import hashlib

ALLOWED = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def photo_type(content_type: str | None) -> str | None:
    """The sniffed type if it is a photo's (JPEG, PNG or WebP), else None (a PDF is an attachment, not a photo)."""
    return content_type if content_type in ALLOWED else None


def photo_id(content: bytes) -> str:
    """Photos are content-addressed: the same bytes uploaded twice are one photo."""
    return hashlib.sha256(content).hexdigest()


def relative_path(pid: str, content_type: str) -> str:
    return f"{pid[:2]}/{pid}.{ALLOWED[content_type]}"
