"""Settings of the intake service (受理)."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from cqm_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001
    # Attachments (photos, PDFs) live outside the database.
    attachment_store: Literal["local", "s3"] = "local"
    attachment_dir: Path = Field(default_factory=lambda: Path.cwd() / "data" / "attachments")
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=60 * 1024 * 1024)
    # A stored file without an attachment row older than this is an orphan (`python -m intake sweep-attachments`).
    attachment_orphan_grace_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # any S3-compatible store (MinIO, Ceph, OSS, COS…)
    s3_region: str | None = None
    # The CSV export reads this many complaints per keyset page while it streams.
    export_page_size: int = Field(default=1000, ge=1, le=10_000)
