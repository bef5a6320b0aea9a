"""The complaint pages' form conversions (console/domain/complaint_forms.py): the posted form
becomes intake's ComplaintForm body, corrections send only what changed, and intake's field
errors land beside the inputs."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from console.domain import complaint_forms as forms
from console.domain.labels import Language
from cqm_shared.contracts.complaint import ComplaintForm

SHANGHAI = ZoneInfo("Asia/Shanghai")

FILLED = {
    "factory": "F01",
    "channel": "wechat",
    "received_at": "2026-11-21T16:30",
    "customer.company": " 华东建工集团 ",
    "customer.contact_name": "王工",
    "customer.phone": "+86 138 0000 0000",
    "customer.email": "",
    "product.model": "YB-PC",
    "product.part_number": "PC-100",
    "product.order_number": "SO-88",
    "product.lot_numbers": "L2611-01, L2611-02，L2611-03",
    "product.ship_date": "2026-10-30",
    "product.quantity_shipped": "1,000",
    "product.quantity_defective": "12",
    "defect_type": "",
    "phenomenon": "叠合板边角破损",
    "customer_request.kind": "report_8d",
    "customer_request.deadline": "2026-11-30",
    "market.region": "domestic",
    "market.province": "out",
    "batch_return": "on",
    "first_owner": "cs-li",
    "product_line": "",
}


def test_a_filled_form_becomes_the_contract_body_intake_accepts() -> None:
    converted = forms.complaint_body(FILLED, SHANGHAI, "zh")

    assert converted.ok, converted.errors
    body = converted.body
    assert body["received_at"] == "2026-11-21T16:30:00+08:00"  # factory time, with its offset
    assert body["customer"] == {"company": "华东建工集团", "contact_name": "王工", "phone": "+86 138 0000 0000"}
    assert body["product"]["lot_numbers"] == ["L2611-01", "L2611-02", "L2611-03"]
    assert body["product"]["quantity_shipped"] == 1000 and body["product"]["quantity_defective"] == 12
    assert body["customer_request"] == {"kind": "report_8d", "deadline": "2026-11-30"}
    assert body["market"] == {"region": "domestic", "province": "out"}
    assert body["batch_return"] is True
    assert "defect_type" not in body and "product_line" not in body  # empty: left out
    ComplaintForm.model_validate(body)  # the contract's own model takes it


def test_defect_type_is_sent_only_when_filled() -> None:
    converted = forms.complaint_body({**FILLED, "defect_type": " 裂纹 crack "}, SHANGHAI, "en")
    assert converted.body["defect_type"] == "裂纹 crack"


def test_an_unchecked_batch_return_is_false_and_a_request_without_its_kind_is_dropped() -> None:
    values = {**FILLED, "batch_return": "", "customer_request.kind": "", "customer_request.note": "soon"}
    body = forms.complaint_body(values, SHANGHAI, "zh").body
    assert body["batch_return"] is False
    assert "customer_request" not in body


@pytest.mark.parametrize(
    ("field", "text", "lang", "expected"),
    [
        ("product.quantity_shipped", "12.5", "zh", "请填写不小于 0 的整数"),
        ("product.quantity_defective", "-3", "en", "enter a whole number, 0 or more"),
        ("product.ship_date", "30/10/2026", "en", "enter a date as yyyy-mm-dd"),
        ("received_at", "yesterday", "en", "enter a time as yyyy-mm-dd hh:mm"),
    ],
)
def test_input_that_cannot_be_converted_is_named_beside_its_field(
    field: str, text: str, lang: Language, expected: str
) -> None:
    converted = forms.complaint_body({**FILLED, field: text}, SHANGHAI, lang)
    assert not converted.ok
    assert converted.errors == {field: expected}


def test_an_empty_form_still_sends_customer_and_product_so_intake_names_the_missing_fields() -> None:
    body = forms.complaint_body({}, SHANGHAI, "zh").body
    assert body == {"customer": {}, "product": {}, "batch_return": False}
    with pytest.raises(ValidationError):
        ComplaintForm.model_validate(body)


def test_intake_errors_land_beside_the_fields_they_name() -> None:
    errors = {
        "customer": "customer.phone or customer.email is required",
        "product": "quantity_defective must not exceed quantity_shipped",
        "(body)": "received_at must not be in the future",
        "customer.email": "value is not a valid email address",
        "product.lot_numbers.2": "String should have at least 1 character",
        "changes.product": "product.part_number or product.model is required",
        "market": "something about the market",
        "nowhere": "odd",
    }
    placed = forms.form_errors(errors)
    assert placed["customer.phone"] == "customer.phone or customer.email is required"
    assert placed["product.quantity_defective"] == "quantity_defective must not exceed quantity_shipped"
    assert placed["received_at"] == "received_at must not be in the future"
    assert placed["customer.email"] == "value is not a valid email address"
    assert placed["product.lot_numbers"] == "String should have at least 1 character"
    assert placed["product.part_number"] == "product.part_number or product.model is required"
    assert placed[forms.GENERAL].startswith("market: ")  # names no input: shown above the form


def test_the_contracts_own_errors_for_the_form_rules_are_placed() -> None:
    """What intake answers for the cross-field rules, as pydantic locates them."""
    from cqm_shared.problems import field_errors

    bad = forms.complaint_body(
        {**FILLED, "customer.phone": "", "product.quantity_defective": "2000"}, SHANGHAI, "zh"
    ).body
    with pytest.raises(ValidationError) as caught:
        ComplaintForm.model_validate(bad)
    reported = {e["field"]: e["message"] for e in field_errors(caught.value.errors())}
    placed = forms.form_errors(reported)
    assert set(placed) == {"customer.phone", "product.quantity_defective"}


RECORD: dict[str, Any] = {
    "number": "F01-2611-0001",
    "factory": "F01",
    "channel": "wechat",
    "received_at": "2026-11-21T08:30:12.345000Z",
    "external_ref": None,
    "customer": {
        "company": "华东建工集团",
        "contact_name": "王工",
        "gender": None,
        "phone": "+86 138 0000 0000",
        "email": None,
        "im": None,
    },
    "product": {
        "model": "YB-PC",
        "specification": None,
        "part_number": "PC-100",
        "order_number": "SO-88",
        "lot_numbers": ["L2611-01"],
        "ship_date": "2026-10-30",
        "quantity_shipped": 1000,
        "quantity_defective": 12,
    },
    "phenomenon": "叠合板边角破损",
    "customer_request": {"kind": "report_8d", "deadline": "2026-11-30", "note": None},
    "market": {"region": "domestic", "province": "out"},
    "batch_return": True,
    "first_owner": "cs-li",
    "product_line": None,
    "current_state": None,
    "defect_type": None,
    "status": "registered",
    "version": 1,
}


def test_a_record_fills_the_correction_form_in_factory_time() -> None:
    values = forms.record_values(RECORD, SHANGHAI)
    assert values["received_at"] == "2026-11-21T16:30"
    assert values["product.lot_numbers"] == "L2611-01"
    assert values["product.quantity_defective"] == "12"
    assert values["batch_return"] == "on"
    assert values["customer.email"] == ""


def test_an_unchanged_correction_form_is_refused_and_a_reason_is_required() -> None:
    values = forms.record_values(RECORD, SHANGHAI)
    unchanged = forms.amendment_body({**values, "reason": "核对"}, RECORD, SHANGHAI, "en")
    assert unchanged.errors == {forms.GENERAL: "nothing was changed"}
    no_reason = forms.amendment_body({**values, "phenomenon": "新描述"}, RECORD, SHANGHAI, "zh")
    assert no_reason.errors == {"reason": "请填写原因"}


def test_a_correction_sends_only_the_changed_objects_whole() -> None:
    values = {
        **forms.record_values(RECORD, SHANGHAI),
        "product.quantity_defective": "15",
        "first_owner": "cs-wang",
        "reason": "客户补充数量 the customer counted again",
    }
    converted = forms.amendment_body(values, RECORD, SHANGHAI, "zh")
    assert converted.ok, converted.errors
    assert converted.body["reason"] == "客户补充数量 the customer counted again"
    changes = converted.body["changes"]
    assert set(changes) == {"product", "first_owner"}
    assert changes["product"]["quantity_defective"] == 15
    assert changes["product"]["part_number"] == "PC-100"  # the whole object, as intake replaces it
    assert changes["first_owner"] == "cs-wang"


def test_emptying_an_optional_field_sends_null() -> None:
    values = {**forms.record_values(RECORD, SHANGHAI), "customer_request.kind": "", "reason": "客户撤销要求"}
    converted = forms.amendment_body(values, RECORD, SHANGHAI, "zh")
    assert converted.body["changes"] == {"customer_request": None}


def test_search_dates_are_whole_local_days_with_an_exclusive_end() -> None:
    params = forms.search_params(
        {"factory": "f01", "from": "2026-11-01", "to": "2026-11-30", "customer": " 华东 ", "status": "", "to2": "x"},
        SHANGHAI,
    )
    assert params == {
        "factory": "F01",
        "customer": "华东",
        "from": "2026-11-01T00:00:00+08:00",
        "to": "2026-12-01T00:00:00+08:00",
    }
    assert forms.search_params({"from": "not a date"}, SHANGHAI) == {}
    assert forms.filters_of({"factory": "F01", "cursor": "1~x", "q": ""}) == {"factory": "F01"}


def test_history_values_are_readable_and_newest_first() -> None:
    revisions = [
        {"revision": 2, "changes": [{"field": "product.quantity_defective", "before": 12, "after": 15}]},
        {
            "revision": 3,
            "changes": [{"field": "customer_request", "before": {"kind": "reply", "note": None}, "after": None}],
        },
    ]
    rows = forms.history_rows(revisions)
    assert [r["revision"] for r in rows] == [3, 2]
    assert rows[0]["changes"] == [{"field": "customer_request", "before": "kind: reply", "after": "—"}]
    assert rows[1]["changes"][0]["before"] == "12"
    assert forms.display_value(["a", "b"]) == "a, b" and forms.display_value(True) == "✓"


def test_the_form_preselects_the_users_first_factory_and_tells_images() -> None:
    assert forms.default_factory(("F01", "F02")) == "F01"
    assert forms.default_factory(("*",)) == ""
    assert forms.is_image("image/png") and forms.is_image("image/jpeg; x=1")
    assert not forms.is_image("application/pdf")


def test_known_cross_field_messages_read_in_chinese() -> None:
    errors = {"customer": "Value error, customer.phone or customer.email is required", "product.model": "odd"}
    assert forms.form_errors(errors, lang="zh") == {
        "customer.phone": "电话与电子邮件至少填写一项",
        "product.model": "odd",
    }
    assert forms.form_errors(errors, lang="en")["customer.phone"] == (
        "Value error, customer.phone or customer.email is required"
    )
