"""Which files may be attached (不良图片, 报告): recognised by their content, not their name."""

from __future__ import annotations

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
