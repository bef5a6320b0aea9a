"""Attachments (不良图片/报告): limits checked on content, stored outside the database,
checksummed, downloadable under the complaint's access rules."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import httpx
import pytest
from fastapi import FastAPI

from cqm_shared.db import upgrade
from intake.adapters.storage import LocalFolderStore, S3Store
from intake.entrypoints.cli import sweep, sweep_main
from tests.conftest import POLICY_DIR, BrokerNamespace
from tests.helpers import asgi_client, auth, migrations_dir, running_service
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
    [stored] = await store.list()
    assert stored.key == "F01/F01-2611-0001/abc" and stored.modified_at.tzinfo is not None
    await store.delete("F01/F01-2611-0001/abc")
    await store.delete("F01/F01-2611-0001/abc")  # already gone: no error
    assert await store.list() == []


# -- storing outside the transaction (issue 7) --------------------------------------------------------


class ProbingStore(LocalFolderStore):
    """A local store that runs `meanwhile` while it stores bytes (i.e. in the middle of an upload)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.meanwhile: Callable[[], Awaitable[None]] | None = None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        if self.meanwhile is not None:
            await self.meanwhile()
        await super().put(key, data, content_type)


@pytest.fixture
async def probed(
    sqlite_url: str, broker_ns: BrokerNamespace, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, ProbingStore]]:
    store = ProbingStore(tmp_path / "files")
    async with running_service(
        "intake",
        sqlite_url,
        broker_ns,
        app_kwargs={"attachments": store},
        attachment_dir=tmp_path / "files",
        attachment_max_bytes=64 * 1024,
    ) as app:
        yield app, store


async def test_the_bytes_are_stored_while_no_transaction_is_open(probed: tuple[FastAPI, ProbingStore]) -> None:
    """The bytes are stored between two short transactions, none open meanwhile (no row lock
    held, on SQLite not the database's one write lock): another complaint is registered while
    the upload is storing them."""
    app, store = probed
    async with client(app) as c:
        number = (await c.post("/api/v1/complaints", json=form("F01"))).json()["number"]
        meanwhile: list[int] = []

        async def register_another() -> None:
            answer = await asyncio.wait_for(c.post("/api/v1/complaints", json=form("F01", 1)), timeout=5)
            meanwhile.append(answer.status_code)

        store.meanwhile = register_another
        uploaded = await c.post(f"/api/v1/complaints/{number}/attachments", files={"file": ("p.png", PNG, "image/png")})
        assert uploaded.status_code == 201, uploaded.text
    assert meanwhile == [201]


async def test_stored_bytes_are_deleted_when_the_complaint_is_withdrawn_meanwhile(
    probed: tuple[FastAPI, ProbingStore], tmp_path: Path
) -> None:
    app, store = probed
    async with client(app) as c:
        number = (await c.post("/api/v1/complaints", json=form("F01"))).json()["number"]

        async def withdraw() -> None:
            answer = await c.post(f"/api/v1/complaints/{number}/withdrawal", json={"reason": "客户撤回"})
            assert answer.status_code == 200

        store.meanwhile = withdraw
        url = f"/api/v1/complaints/{number}/attachments"
        refused = await c.post(url, files={"file": ("p.png", PNG, "image/png")})
        assert refused.status_code == 409
        assert (refused.json()["state"], refused.json()["action"]) == ("withdrawn", "attach")
        store.meanwhile = None
        assert (await c.get(url)).json() == []
        assert (await c.post(url, files={"file": ("p.png", PNG, "image/png")})).status_code == 409
    folder = tmp_path / "files" / "F01" / number
    assert not folder.exists() or list(folder.iterdir()) == []  # stored, then deleted again
    async with client(app, "auditor") as c:
        trail = (await c.get("/api/v1/audit", params={"complaint": number})).json()
    assert [e["action"] for e in trail] == ["register", "withdraw"]


async def test_an_unknown_complaint_is_404_before_the_file_is_judged(intake: FastAPI) -> None:
    url = "/api/v1/complaints/F01-2611-0999/attachments"
    async with client(intake) as c:
        for files in ({"file": ("empty.png", b"", "image/png")}, {"file": ("x.exe", b"MZ", "image/png")}):
            assert (await c.post(url, files=files)).status_code == 404
        assert (await c.post(url, files={"other": ("x", b"x")})).status_code == 404  # no file at all
    async with client(intake, "customer_service", "F02") as c:
        assert (await c.post(url, files={"file": ("p.png", PNG, "image/png")})).status_code == 404


async def test_the_sweep_deletes_old_stored_files_without_a_row(intake: FastAPI, tmp_path: Path) -> None:
    async with client(intake) as c:
        number = (await c.post("/api/v1/complaints", json=form("F01"))).json()["number"]
        kept = (
            await c.post(f"/api/v1/complaints/{number}/attachments", files={"file": ("p.png", PNG, "image/png")})
        ).json()
    folder = tmp_path / "files" / "F01" / number
    crashed, in_flight = folder / "crashed-before-recording", folder / "upload-in-flight"
    crashed.write_bytes(PNG)
    in_flight.write_bytes(PNG)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(crashed, (two_days_ago, two_days_ago))
    os.utime(folder / kept["id"], (two_days_ago, two_days_ago))
    settings = intake.state.settings
    listed = await sweep(settings, grace=timedelta(hours=24), dry_run=True)
    assert listed == [f"F01/{number}/crashed-before-recording"] and crashed.exists()
    assert await sweep(settings, grace=timedelta(hours=24)) == listed
    assert sorted(p.name for p in folder.iterdir()) == sorted([kept["id"], "upload-in-flight"])
    async with client(intake) as c:
        download = await c.get(f"/api/v1/complaints/{number}/attachments/{kept['id']}")
        assert download.content == PNG


def test_the_sweep_command(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m intake sweep-attachments`"""
    upgrade(migrations_dir("intake"), sqlite_url)
    orphan = tmp_path / "files" / "F01" / "F01-2611-0001" / "crashed"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(PNG)
    an_hour_ago = time.time() - 3600
    os.utime(orphan, (an_hour_ago, an_hour_ago))
    for name, value in {
        "DATABASE_URL": sqlite_url,
        "ATTACHMENT_DIR": str(tmp_path / "files"),
        "POLICY_DIR": str(POLICY_DIR),
    }.items():
        monkeypatch.setenv(name, value)
    assert sweep_main(["--dry-run"]) == 0  # the default grace (24 hours) keeps it
    assert capsys.readouterr().out == "" and orphan.exists()
    assert sweep_main(["--grace-hours", "0.5"]) == 0
    assert capsys.readouterr().out == "F01/F01-2611-0001/crashed\n" and not orphan.exists()
