"""What people do on the complaint pages, as steps the browser tests (and the end-to-end walk)
compose. Each step works in either language: it finds things by `data-testid`."""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console

# A form as a person fills it in; the keys are the inputs' names (the contract's dotted paths).
COMPLAINT_FORM: dict[str, str] = {
    "channel": "wechat",
    "customer.company": "华东建工集团",
    "customer.contact_name": "王工",
    "customer.phone": "+86 138 0000 0000",
    "customer.email": "wang@example.com",
    "product.model": "YB-PC",
    "product.part_number": "PC-100",
    "product.lot_numbers": "L2611-01, L2611-02",
    "product.ship_date": "2026-10-30",
    "product.quantity_shipped": "1000",
    "product.quantity_defective": "12",
    "defect_type": "边角破损 chipped edge",
    "phenomenon": "叠合板边角破损 chipped edges on composite slabs",
    "customer_request.kind": "report_8d",
    "market.region": "domestic",
    "market.province": "out",
    "first_owner": "cs-li",
    "product_line": "叠合板 composite slabs",
}
SELECTS = frozenset({"factory", "channel", "customer_request.kind", "market.region", "market.province"})


def fill_complaint_form(page: Page, values: Mapping[str, str]) -> None:
    """Type `values` into the complaint form on the page (selects chosen, `batch_return` ticked
    when its value is "on")."""
    for name, value in values.items():
        field = page.get_by_test_id(f"field-{name}")
        if name == "batch_return":
            field.set_checked(value == "on")
        elif name in SELECTS:
            field.select_option(value)
        else:
            field.fill(value)


def register_complaint(console: Console, values: Mapping[str, str] | None = None) -> str:
    """Register a complaint through the new-complaint form; returns its number.

    `values` override COMPLAINT_FORM by input name (`{"customer.company": "…"}`); the order
    number is unique unless given, so intake never links it to an earlier one as a repeat."""
    filled = {**COMPLAINT_FORM, "product.order_number": f"SO-{uuid.uuid4().hex[:8].upper()}", **(values or {})}
    page = console.go("/complaints/new")
    fill_complaint_form(page, filled)
    page.get_by_test_id("register").click()
    expect(page.get_by_test_id("registered-flash")).to_be_visible()
    return page.get_by_test_id("complaint-number").inner_text().strip()


def search_complaints(console: Console, **filters: str) -> Page:
    """The list filtered as a person would: the filters typed in, then 查询 / Search."""
    page = console.go("/complaints")
    for name, value in filters.items():
        field = page.get_by_test_id(f"filter-{name}")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.get_by_test_id("search").click()
    if filters:  # htmx swaps the results, then puts the search in the address bar
        page.wait_for_url("**/complaints?*")
    return page


def export_csv(console: Console) -> str:
    """The CSV of the current search, as downloaded (text, BOM removed)."""
    with console.page.expect_download() as download:
        console.page.get_by_test_id("export-csv").click()
    return Path(download.value.path()).read_bytes().decode("utf-8-sig")


def png(width: int = 160, height: int = 120, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small PNG, a solid colour with a darker band (a stand-in for a photo of the defect)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    dark = bytes(c // 3 for c in rgb)
    rows = b"".join(b"\x00" + (dark if height // 3 < y < height // 2 else bytes(rgb)) * width for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def upload_photo(console: Console, number: str, filename: str = "defect.png", content: bytes | None = None) -> None:
    """Attach a photo on the record page: chosen (previewed), uploaded, shown as a thumbnail."""
    page = console.go(f"/complaints/{number}")
    page.get_by_test_id("upload-file").set_input_files(
        {"name": filename, "mimeType": "image/png", "buffer": content or png()}
    )
    expect(page.get_by_test_id("upload-preview")).to_be_visible()
    page.get_by_test_id("upload").click()
    thumb = page.locator(f"[data-testid=attachment][data-filename='{filename}'] [data-testid=thumb]")
    expect(thumb).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())


def amend_complaint(console: Console, number: str, changes: Mapping[str, str], reason: str) -> Page:
    """Correct the record (划改) through the correction form, with the reason."""
    page = console.go(f"/complaints/{number}")
    page.locator("[data-testid=amend] > summary").click()
    form = page.get_by_test_id("amend-form")
    for name, value in changes.items():
        field = form.get_by_test_id(f"field-{name}")
        if name in SELECTS:
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_test_id("field-reason").fill(reason)
    form.get_by_test_id("amend-submit").click()
    expect(page.get_by_test_id("saved-flash")).to_be_visible()
    return page
