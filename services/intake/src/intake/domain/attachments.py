"""Which files may be attached (不良图片, 报告): recognised by their content, not their name. Pure."""

from __future__ import annotations

import hashlib
from datetime import datetime

from intake.domain.model import Attachment

# Magic numbers of the types a complaint may carry.
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"%PDF-", 0, "application/pdf"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
]
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "application/pdf": ".pdf",
    "image/gif": ".gif",
    "image/webp": ".webp",
}
ALLOWED_TYPES = tuple(EXTENSIONS)


class AttachmentRefused(ValueError):
    """The file is empty (422), too large (413) or not an allowed type (415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sniff(head: bytes) -> str | None:
    """The media type the first bytes show, or None when it is not an allowed type."""
    for magic, offset, media_type in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def safe_filename(name: str | None, media_type: str) -> str:
    """A display name without path parts or control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?')[:200].strip(". ")
    return base or f"attachment{EXTENSIONS[media_type]}"


def accepted_type(data: bytes, declared_type: str | None, max_bytes: int) -> str:
    """The media type of an acceptable upload, else AttachmentRefused with the status to answer."""
    if not data:
        raise AttachmentRefused(422, "the file is empty")
    if len(data) > max_bytes:
        raise AttachmentRefused(413, f"the file exceeds {max_bytes} bytes")
    media_type = sniff(data[:16])
    if media_type is None:
        raise AttachmentRefused(415, "only JPEG, PNG, GIF, WebP images and PDF documents are accepted")
    if declared_type and declared_type not in (media_type, "application/octet-stream"):
        raise AttachmentRefused(415, f"the content is {media_type}, not {declared_type}")
    return media_type


def describe(
    *,
    attachment_id: str,
    number: str,
    factory: str,
    data: bytes,
    filename: str | None,
    media_type: str,
    at: datetime,
    by: str,
) -> Attachment:
    """The attachment an accepted upload becomes; its bytes are stored under `storage_key`."""
    return Attachment(
        id=attachment_id,
        number=number,
        filename=safe_filename(filename, media_type),
        content_type=media_type,
        size=len(data),
        sha256=checksum(data),
        storage_key=storage_key(factory, number, attachment_id),
        uploaded_at=at,
        uploaded_by=by,
    )


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storage_key(factory: str, number: str, attachment_id: str) -> str:
    return f"{factory}/{number}/{attachment_id}"
