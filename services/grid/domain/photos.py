"""Photo checks by content, not by name or declared type: the first bytes say what a file is."""

from __future__ import annotations

import hashlib

ALLOWED = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def sniff(head: bytes) -> str | None:
    """The image type the leading bytes announce (JPEG, PNG or WebP), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def photo_id(content: bytes) -> str:
    """Photos are content-addressed: the same bytes uploaded twice are one photo."""
    return hashlib.sha256(content).hexdigest()


def relative_path(pid: str, content_type: str) -> str:
    return f"{pid[:2]}/{pid}.{ALLOWED[content_type]}"
