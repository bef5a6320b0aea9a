"""The complaint pages in the browser: registering through the form (with its field errors),
searching, the CSV export, a photo attached, a correction (划改) in the history, another
factory's user kept out, and the pages in English."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.browser.conftest import Console
from tests.browser.flows_complaints import (
    COMPLAINT_FORM,
    amend_complaint,
    export_csv,
    fill_complaint_form,
    register_complaint,
    search_complaints,
    upload_photo,
)


def _company() -> str:
    return f"华东建工集团-{uuid.uuid4().hex[:6]}"


def test_a_complaint_registered_through_the_form_is_found_exported_photographed_and_corrected(
    people: dict[str, Console],
) -> None:
    cs = people["cs"].sign_in("customer_service", name="李客服")
    company = _company()

    # first try: no phone and no e-mail, more defective than shipped: intake refuses (422) and
    # the form comes back with each message beside its field and the input kept
    page = cs.go("/complaints/new")
    expect(page.get_by_test_id("field-factory")).to_have_value("F01")  # the user's factory, preselected
    values = {**COMPLAINT_FORM, "customer.company": company, "customer.phone": "", "customer.email": ""}
    fill_complaint_form(page, {**values, "product.quantity_defective": "2000"})
    with page.expect_response(lambda r: r.url.endswith("/complaints") and r.request.method == "POST") as answer:
        page.get_by_test_id("register").click()
    assert answer.value.status == 422
    expect(page.get_by_test_id("error-customer.phone")).to_have_text("电话与电子邮件至少填写一项")
    expect(page.get_by_test_id("error-product.quantity_defective")).to_have_text("不良数量不能大于交货数量")
    expect(page.get_by_test_id("field-customer.phone")).to_have_class("invalid")
    expect(page.get_by_test_id("field-customer.company")).to_have_value(company)
    expect(page.get_by_test_id("field-defect_type")).to_have_value(COMPLAINT_FORM["defect_type"])
    cs.shot("complaints-new-errors")

    # corrected and registered: the record page shows the new number
    fill_complaint_form(page, {"customer.phone": "+86 138 0000 0000", "product.quantity_defective": "12"})
    page.get_by_test_id("register").click()
    expect(page.get_by_test_id("registered-flash")).to_be_visible()
    number = page.get_by_test_id("complaint-number").inner_text().strip()
    assert number.startswith("F01-")
    expect(page.get_by_test_id("registered-flash")).to_contain_text(number)
    expect(page.get_by_test_id("customer-company")).to_have_text(company)
    expect(page.get_by_test_id("quantities")).to_contain_text("1.20%")
    expect(page.get_by_test_id("product-details")).to_contain_text("边角破损 chipped edge")

    # search by customer finds it; the case and the record are linked from the row
    page = search_complaints(cs, customer=company, factory="F01")
    row = page.locator(f"[data-testid=complaint-row][data-number='{number}']")
    expect(row).to_be_visible()
    expect(page.locator("[data-testid=complaint-row]")).to_have_count(1)
    expect(row.get_by_test_id("case-link")).to_have_attribute("href", f"/cases/{number}")
    expect(row).to_contain_text("微信/企业微信")
    cs.shot("complaints-list")

    # the CSV export of that search holds it (intake's export, proxied with the same filters)
    csv_text = export_csv(cs)
    lines = csv_text.splitlines()
    assert lines[0].startswith("编号 number,")
    assert len(lines) == 2 and lines[1].startswith(number + ",") and company in lines[1]

    # a photo: previewed before upload, then shown as a thumbnail served through the console
    upload_photo(cs, number)
    page = cs.page
    src = page.get_by_test_id("thumb").first.get_attribute("src")
    assert src and src.startswith(f"/complaints/{number}/attachments/")
    image = page.request.get(cs.base_url + src)
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert image.body().startswith(b"\x89PNG")

    # a correction: the history shows original and corrected values, who, when, why
    page = amend_complaint(cs, number, {"product.quantity_defective": "15"}, "客户复核后不良数量为15件")
    revision = page.get_by_test_id("revision").first
    expect(revision).to_contain_text("划改")
    expect(revision).to_contain_text("李客服")
    expect(revision.get_by_test_id("revision-reason")).to_have_text("客户复核后不良数量为15件")
    change = revision.locator("[data-testid=change][data-field='product.quantity_defective']")
    expect(change.get_by_test_id("before")).to_have_text("12")
    expect(change.get_by_test_id("after")).to_have_text("15")
    expect(page.get_by_test_id("quantities")).to_contain_text("1.50%")
    page.evaluate("window.scrollTo(0, 0)")
    cs.shot("complaints-record-photo")

    # a correction needs its reason: refused beside the field, nothing saved
    page.locator("[data-testid=amend] > summary").click()
    page.get_by_test_id("amend-form").get_by_test_id("field-phenomenon").fill("更正描述")
    page.get_by_test_id("amend-submit").click()
    expect(page.get_by_test_id("error-reason")).to_be_visible()
    expect(page.get_by_test_id("revision")).to_have_count(1)


def test_another_factorys_user_gets_not_found_and_does_not_see_it_in_the_list(people: dict[str, Console]) -> None:
    company = _company()
    number = register_complaint(people["cs"].sign_in("customer_service"), {"customer.company": company})

    other = people["f02"].sign_in("quality_engineer", "F02")
    page = other.go(f"/complaints/{number}")
    expect(page.locator("section.error")).to_have_attribute("data-status", "404")
    for path in (f"/complaints/{number}/attachments/00000000-0000-0000-0000-000000000000",):
        assert other.page.request.get(other.base_url + path).status == 404
    page = search_complaints(other, customer=company)
    expect(page.get_by_test_id("no-results")).to_be_visible()
    expect(page.locator(f"[data-number='{number}']")).to_have_count(0)


def test_the_pages_speak_english_after_switching(people: dict[str, Console]) -> None:
    cs = people["cs"].sign_in("customer_service")
    cs.go("/complaints").click("a[data-lang=en]")
    number = register_complaint(cs, {"customer.company": _company(), "batch_return": "on"})
    page = cs.page
    expect(page.get_by_test_id("registered-flash")).to_contain_text(f"Complaint registered as {number}")
    expect(page.get_by_test_id("attachments")).to_contain_text("Attachments and photos")
    expect(page.get_by_test_id("history")).to_contain_text("Never corrected.")
    expect(page.locator("h1, h2").filter(has_text="客户")).to_have_count(0)

    page.click("a[data-lang=zh]")
    expect(page.get_by_test_id("history")).to_contain_text("修改记录(划改)")
    page.click("a[data-lang=en]")
    page = cs.go("/complaints")
    expect(page.get_by_test_id("export-csv")).to_have_text("Export CSV")
    expect(page.locator("thead")).to_contain_text("Registered")
    page = cs.go("/complaints/new")
    expect(page.locator("h1")).to_have_text("New complaint")
    expect(page.get_by_test_id("complaint-form")).to_contain_text("Quantity defective")
