"""CloudEvents 1.0 envelope, JSON structured mode (CONTRACT.md "Messages")."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

CONTENT_TYPE = "application/cloudevents+json"
FACTORY_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
_TYPE_PATTERN = re.compile(r"^[a-z_]+\.[a-z_]+$")


class EventValidationError(ValueError):
    """A message is not a valid event of this contract; retrying cannot help."""


class CloudEvent(BaseModel):
    """One event as it travels on the `complaints` exchange.

    Unknown extension attributes are kept (CloudEvents allows them) so that a consumer can
    pass an event on unchanged.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = "1.0"
    id: uuid.UUID
    type: str
    source: str = Field(min_length=1)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    dataversion: int = Field(default=1, ge=1)
    factory: str = Field(pattern=FACTORY_PATTERN)
    traceparent: str | None = None
    data: dict[str, Any]

    @field_validator("specversion")
    @classmethod
    def _spec_1_0(cls, value: str) -> str:
        if value != "1.0":
            raise ValueError("only CloudEvents specversion 1.0 is supported")
        return value

    @field_validator("type")
    @classmethod
    def _type_shape(cls, value: str) -> str:
        if not _TYPE_PATTERN.match(value):
            raise ValueError("type must look like '<aggregate>.<event>', e.g. complaint.registered")
        return value

    @property
    def routing_key(self) -> str:
        """`<event type>.<factory, lower case>`, e.g. `complaint.registered.f01`."""
        return f"{self.type}.{self.factory.lower()}"

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, body: bytes | str) -> CloudEvent:
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            raise EventValidationError(_describe(exc)) from exc


def new_event(
    *,
    type: str,
    source: str,
    factory: str,
    data: dict[str, Any],
    subject: str | None = None,
    dataversion: int = 1,
    traceparent: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=uuid.uuid4(),
        type=type,
        source=source,
        time=time or datetime.now(UTC),
        subject=subject,
        dataversion=dataversion,
        factory=factory,
        traceparent=traceparent,
        data=data,
    )


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
