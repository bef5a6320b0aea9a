"""Attachments (不良图片/报告): limits checked on content, stored outside the database,
checksummed, downloadable under the complaint's access rules."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from fastapi import FastAPI

from intake.adapters.storage import LocalFolderStore, S3Store
from tests.conftest import BrokerNamespace
from tests.helpers import asgi_client, auth, running_service
from tests.integration.test_numbering import form

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 50 + b"%%EOF\n"


def client(app: FastAPI, roles: str = "quality_engineer", factories: str = "F01") -> httpx.AsyncClient:
    return asgi_client(app, auth(roles, factories))


@pytest.fixture
async def intake(sqlite_url: str, broker_ns: BrokerNamespace, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with running_service(
        "intake", sqlite_url, broker_ns, attachment_dir=tmp_path / "files", attachment_max_bytes=64 * 1024
    ) as app:
        yield app


async def test_upload_list_download_with_checksum(intake: FastAPI, tmp_path: Path) -> None:
    async with client(intake) as c:
        number = (await c.post("/api/v1/complaints", json=form("F01"))).json()["number"]
        uploaded = await c.post(
            f"/api/v1/complaints/{number}/attachments", files={"file": ("../../etc/裂缝 photo.png", PNG, "image/png")}
        )
        assert uploaded.status_code == 201, uploaded.text
        meta = uploaded.json()
        assert meta["sha256"] == hashlib.sha256(PNG).hexdigest() and meta["size"] == len(PNG)
        assert meta["filename"] == "裂缝 photo.png" and meta["content_type"] == "image/png"
        pdf = await c.post(
            f"/api/v1/complaints/{number}/attachments", files={"file": ("8d.pdf", PDF, "application/octet-stream")}
        )
        assert pdf.status_code == 201 and pdf.json()["content_type"] == "application/pdf"
        listed = (await c.get(f"/api/v1/complaints/{number}/attachments")).json()
        assert [a["id"] for a in listed] == [meta["id"], pdf.json()["id"]]
        download = await c.get(f"/api/v1/complaints/{number}/attachments/{meta['id']}")
        assert download.content == PNG and download.headers["etag"] == f'"{meta["sha256"]}"'
        assert download.headers["x-content-type-options"] == "nosniff"
        assert "filename*=UTF-8''%E8%A3%82%E7%BC%9D%20photo.png" in download.headers["content-disposition"]
    # the bytes live outside the database, under factory/complaint/id
    stored = tmp_path / "files" / "F01" / number / meta["id"]
    assert stored.read_bytes() == PNG
    # another factory's user sees neither the list nor the file
    async with client(intake, factories="F02") as c:
        assert (await c.get(f"/api/v1/complaints/{number}/attachments")).status_code == 404
        assert (await c.get(f"/api/v1/complaints/{number}/attachments/{meta['id']}")).status_code == 404
        assert (
            await c.post(f"/api/v1/complaints/{number}/attachments", files={"file": ("x.png", PNG, "image/png")})
        ).status_code == 404
    # a file altered on disk is refused instead of served
    stored.write_bytes(PNG[:-1] + b"\x00")
    async with client(intake) as c:
        assert (await c.get(f"/api/v1/complaints/{number}/attachments/{meta['id']}")).status_code == 409
    async with client(intake, "auditor") as c:
        trail = (await c.get("/api/v1/audit", params={"complaint": number})).json()
    assert [e["action"] for e in trail] == ["register", "attach", "attach"]


async def test_limits_are_checked_on_the_content(intake: FastAPI) -> None:
    async with client(intake) as c:
        number = (await c.post("/api/v1/complaints", json=form("F01"))).json()["number"]
        url = f"/api/v1/complaints/{number}/attachments"
        disguised = await c.post(url, files={"file": ("photo.png", b"MZ\x90\x00 an executable", "image/png")})
        assert disguised.status_code == 415
        liar = await c.post(url, files={"file": ("photo.jpg", PNG, "image/jpeg")})
        assert liar.status_code == 415  # says JPEG, is PNG
        too_big = await c.post(url, files={"file": ("big.png", PNG + b"\x00" * (64 * 1024), "image/png")})
        assert too_big.status_code == 413
        assert (await c.post(url, files={"file": ("empty.png", b"", "image/png")})).status_code == 422
        assert (await c.get(f"/api/v1/complaints/{number}/attachments")).json() == []


def test_local_store_refuses_keys_outside_its_folder(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    with pytest.raises(ValueError):
        store._path("../outside")


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible HTTP server on loopback (moto's standalone server)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


async def test_s3_store_round_trip(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="complaints")
    store = S3Store("complaints", s3_endpoint, "us-east-1")
    await store.put("F01/F01-2611-0001/abc", PDF, "application/pdf")
    assert await store.get("F01/F01-2611-0001/abc") == PDF
