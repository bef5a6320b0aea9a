"""Where attachment bytes live: a local folder by default, any S3-compatible store if configured."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Protocol

from intake.config import IntakeSettings


class AttachmentStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...


class LocalFolderStore:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError("attachment key escapes the store")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a reader never sees half a file

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)


class S3Store:
    """boto3 (in a worker thread): credentials from the standard AWS environment/config."""

    def __init__(self, bucket: str, endpoint_url: str | None, region: str | None) -> None:
        import boto3

        self._bucket = bucket
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object, Bucket=self._bucket, Key=key, Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes:
        answer = await asyncio.to_thread(self._client.get_object, Bucket=self._bucket, Key=key)
        body: bytes = await asyncio.to_thread(answer["Body"].read)
        return body


def build_store(settings: IntakeSettings) -> AttachmentStore:
    if settings.attachment_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("ATTACHMENT_STORE=s3 needs S3_BUCKET")
        return S3Store(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    return LocalFolderStore(settings.attachment_dir)
