"""Intake checks on the complaint form (DOMAIN.md §2; CONTRACT.md "The complaint form")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from cqm_shared.contracts.complaint import ComplaintForm


def form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "factory": "F01",
        "channel": "phone",
        "customer": {"company": "华东建工", "contact_name": "王工", "phone": "+86 138 0000 0000"},
        "product": {"part_number": "PC-100", "quantity_shipped": 400, "quantity_defective": 10},
        "phenomenon": "边角破损 chipped edges",
    }
    data.update(overrides)
    return data


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        ComplaintForm.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in caught.value.errors()]


def test_minimal_form_is_accepted() -> None:
    parsed = ComplaintForm.model_validate(form())
    assert parsed.factory == "F01"
    assert parsed.batch_return is False


def test_defect_rate_is_exact_decimal_percentage() -> None:
    # DOMAIN.md §2 (seed 004 §4.1.2): defective quantity -> defect rate
    assert ComplaintForm.model_validate(form()).product.defect_rate == Decimal("2.50")


def test_defective_must_not_exceed_shipped() -> None:
    # DOMAIN.md §2 "Intake checks": plausible quantities (defective <= shipped)
    bad = form(product={"part_number": "P", "quantity_shipped": 5, "quantity_defective": 6})
    assert any("quantity_defective must not exceed" in e for e in errors_of(bad))


def test_customer_needs_phone_or_email() -> None:
    # CONTRACT.md: one of customer.phone / customer.email is required
    bad = form(customer={"company": "A", "contact_name": "B"})
    assert any("customer.phone or customer.email" in e for e in errors_of(bad))


def test_product_needs_part_number_or_model() -> None:
    bad = form(product={"order_number": "SO-1"})
    assert any("part_number or product.model" in e for e in errors_of(bad))


@pytest.mark.parametrize("missing", ["factory", "channel", "phenomenon", "customer", "product"])
def test_required_fields(missing: str) -> None:
    data = form()
    del data[missing]
    assert any(e.startswith(missing) for e in errors_of(data))


def test_unknown_fields_and_channels_are_refused() -> None:
    assert any("extra" in e.lower() for e in errors_of(form(colour="red")))
    assert any(e.startswith("channel") for e in errors_of(form(channel="pigeon")))


def test_invalid_email_and_phone_are_refused() -> None:
    errs = errors_of(form(customer={"company": "A", "contact_name": "B", "email": "not-an-email"}))
    assert any(e.startswith("customer.email") for e in errs)
    errs = errors_of(form(customer={"company": "A", "contact_name": "B", "phone": "call me"}))
    assert any(e.startswith("customer.phone") for e in errs)


def test_received_at_must_be_aware_and_not_in_future() -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert any("future" in e for e in errors_of(form(received_at=future)))
    assert any(e.startswith("received_at") for e in errors_of(form(received_at="2026-11-01T08:00:00")))


def test_factory_code_shape() -> None:
    assert any(e.startswith("factory") for e in errors_of(form(factory="f01")))


@pytest.mark.parametrize("value", [1700000000, "1700000000", "1.7e9"])
def test_times_as_numbers_are_refused_not_read_as_epochs(value: object) -> None:
    # pydantic alone would take a number, or numeric text, as seconds since 1970
    assert any(e.startswith("received_at") for e in errors_of(form(received_at=value)))
    product = {"part_number": "P", "ship_date": value}
    assert any(e.startswith("product.ship_date") for e in errors_of(form(product=product)))
