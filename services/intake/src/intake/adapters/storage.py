"""Where attachment bytes live: a local folder by default, any S3-compatible store if configured."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intake.config import IntakeSettings
from intake.service.unit_of_work import AttachmentStore, StoredFile


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
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a reader never sees half a file

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def list(self) -> list[StoredFile]:
        def walk() -> list[StoredFile]:
            if not self._root.is_dir():
                return []
            return [
                StoredFile(
                    path.relative_to(self._root).as_posix(),
                    datetime.fromtimestamp(path.stat().st_mtime, UTC),
                )
                for path in self._root.rglob("*")
                if path.is_file()
            ]

        return await asyncio.to_thread(walk)


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

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=key)

    async def list(self) -> list[StoredFile]:
        def walk() -> list[StoredFile]:
            found = []
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket):
                for item in page.get("Contents", []):
                    found.append(StoredFile(item["Key"], item["LastModified"].astimezone(UTC)))
            return found

        return await asyncio.to_thread(walk)


def build_store(settings: IntakeSettings) -> AttachmentStore:
    if settings.attachment_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("ATTACHMENT_STORE=s3 needs S3_BUCKET")
        return S3Store(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    return LocalFolderStore(settings.attachment_dir)
