"""The complaint form (CONTRACT.md "The complaint form") and the registered record.

Field names are public and fixed. `ComplaintForm` is what callers send (unknown fields are
refused); `ComplaintRecord` is what consumers read (unknown fields ignored, so intake may add
optional fields within version 1).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from cqm_shared.contracts.envelope import FACTORY_PATTERN

# Clocks of callers drift; a received_at a few minutes ahead is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)


def _text_or_value(value: object) -> object:
    """Dates and times arrive as RFC 3339 text (JSON bodies and query strings alike).

    Refuse numbers and numeric text: pydantic would read either as seconds since 1970.
    """
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
    elif not isinstance(value, int | float) or isinstance(value, bool):
        return value
    raise ValueError("expected an RFC 3339 date or date-time string")


Text = Annotated[str, Field(min_length=1, max_length=200)]
DateText = Annotated[date, BeforeValidator(_text_or_value)]
DateTimeText = Annotated[AwareDatetime, BeforeValidator(_text_or_value)]


def _whole_number(value: object) -> object:
    """JSON Schema counts 100.0 as an integer, so a client may send it: read it as 100
    (a fraction, text or a boolean is still refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# 不良类型: a short code or text ("crack 裂纹"); statistics count a complaint without one as "".
DefectType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Quantity = Annotated[StrictInt, Field(ge=0, le=10**9), BeforeValidator(_whole_number)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ()\-]{5,24}$")]


class Channel(StrEnum):
    """How the complaint reached us (受理渠道)."""

    PHONE = "phone"
    EMAIL = "email"
    FAX = "fax"
    LETTER = "letter"
    WECHAT = "wechat"
    PORTAL = "portal"
    ONSITE = "onsite"
    CONSUMER_ASSOCIATION = "consumer_association"
    SYSTEM = "system"


class RequestKind(StrEnum):
    """What the customer wants (客户希望之处理方式)."""

    REPLY = "reply"
    REPORT_8D = "report_8d"
    ONSITE = "onsite"
    EXCHANGE = "exchange"
    RETURN = "return"
    SORTING = "sorting"
    CONCESSION = "concession"
    COMPENSATION = "compensation"


class Region(StrEnum):
    DOMESTIC = "domestic"  # 国内
    FOREIGN = "foreign"  # 国外


class Province(StrEnum):
    IN = "in"  # 本省
    OUT = "out"  # 外省


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Customer(_Part):
    # The one-of rule in the JSON Schema too, so clients and fuzzers know it.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
                {"required": ["email"], "properties": {"email": {"type": "string"}}},
            ]
        }
    )

    company: Text
    contact_name: Text
    gender: Annotated[str, Field(max_length=20)] | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    im: Annotated[str, Field(max_length=100)] | None = None  # QQ / WeChat account

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if not self.phone and not self.email:
            raise ValueError("customer.phone or customer.email is required")
        return self


class Product(_Part):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["part_number"], "properties": {"part_number": {"type": "string"}}},
                {"required": ["model"], "properties": {"model": {"type": "string"}}},
            ]
        }
    )

    model: Text | None = None  # 型号
    specification: Annotated[str, Field(max_length=200)] | None = None  # 规格
    part_number: Text | None = None  # 料号
    order_number: Annotated[str, Field(max_length=100)] | None = None  # 订单编号
    lot_numbers: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=500
    )  # 产品编号
    ship_date: DateText | None = None  # 交运日期
    quantity_shipped: Quantity | None = None
    quantity_defective: Quantity | None = None  # 不良数量

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        if not self.part_number and not self.model:
            raise ValueError("product.part_number or product.model is required")
        if (
            self.quantity_shipped is not None
            and self.quantity_defective is not None
            and self.quantity_defective > self.quantity_shipped
        ):
            raise ValueError("quantity_defective must not exceed quantity_shipped")
        return self

    @property
    def defect_rate(self) -> Decimal | None:
        """Defective / shipped as a percentage with two decimals (不良率)."""
        if not self.quantity_shipped or self.quantity_defective is None:
            return None
        rate = Decimal(self.quantity_defective) * 100 / Decimal(self.quantity_shipped)
        return rate.quantize(Decimal("0.01"))


class CustomerRequest(_Part):
    kind: RequestKind
    deadline: DateText | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class Market(_Part):
    region: Region = Region.DOMESTIC
    province: Province | None = None


class ComplaintFields(BaseModel):
    """The fields common to the form and the record."""

    factory: Annotated[str, Field(pattern=FACTORY_PATTERN, description="factory code, e.g. F01 (工厂)")]
    channel: Channel
    received_at: DateTimeText | None = None
    external_ref: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    customer: Customer
    product: Product
    phenomenon: Annotated[str, Field(min_length=1, max_length=4000)]  # 问题现象
    customer_request: CustomerRequest | None = None
    market: Market = Field(default_factory=Market)
    batch_return: StrictBool = False  # 批量退货
    first_owner: Annotated[str, Field(min_length=1, max_length=100)] | None = None  # 首问责任人
    product_line: Annotated[str, Field(max_length=100)] | None = None  # 产品线
    current_state: Annotated[str, Field(max_length=2000)] | None = None  # 现状 (of the product at the customer)
    # Added within v1 (optional): senders that do not classify the defect leave it out.
    defect_type: DefectType | None = Field(
        default=None, description='defect type (不良类型), a short code or text, e.g. "crack 裂纹"'
    )


class ComplaintForm(ComplaintFields):
    """What a caller sends to register a complaint."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _not_in_future(self) -> Self:
        now = datetime.now(UTC)
        if self.received_at is not None and self.received_at > now + CLOCK_SKEW:
            raise ValueError("received_at must not be in the future")
        if self.product.ship_date is not None and self.product.ship_date > (now + CLOCK_SKEW).date():
            raise ValueError("product.ship_date must not be in the future")
        return self


class ComplaintStatus(StrEnum):
    REGISTERED = "registered"
    WITHDRAWN = "withdrawn"


class Severity(StrEnum):
    """Severity set at triage (seed 000 §4.1.1)."""

    URGENT = "urgent"  # 紧急
    CRITICAL = "critical"  # 特重大
    MAJOR = "major"  # 重大
    MODERATE = "moderate"  # 较大
    MINOR = "minor"  # 一般


class ComplaintRecord(ComplaintFields):
    """A registered complaint: the form plus its number (`complaint.registered` v1 data)."""

    model_config = ConfigDict(extra="ignore")

    number: str
    status: ComplaintStatus
    received_at: AwareDatetime
    registered_at: AwareDatetime
    defect_rate: Decimal | None = None
    # A repeat of an earlier complaint (same customer, order and part within the window):
    # linked to the first one and not counted again in statistics.
    repeat_of: str | None = None
    severity: Severity | None = None
    withdrawn_reason: str | None = None
