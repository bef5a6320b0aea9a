"""CloudEvents 1.0 envelope, JSON structured mode (CONTRACT.md "Messages")."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
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

    @classmethod
    def from_amqp(cls, body: bytes, headers: Mapping[str, Any] | None, content_type: str | None) -> CloudEvent:
        """Either content mode of the CloudEvents AMQP binding.

        Structured: the body is the whole event (`application/cloudevents+json`, or JSON with
        a `specversion`). Binary: the attributes are application properties prefixed
        `cloudEvents:` (the binding), `cloudEvents_` (its JMS-safe form) or `ce-`/`ce_`, and
        the body is `data` as JSON.
        """
        attributes = _binary_attributes(headers or {})
        if not attributes or (content_type or "").startswith(CONTENT_TYPE):
            return cls.from_json(body)
        media = (content_type or attributes.get("datacontenttype") or "application/json").split(";")[0].strip()
        if media != "application/json" and not media.endswith("+json"):
            raise EventValidationError(f"binary-mode data must be JSON, got content type {media}")
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            raise EventValidationError(f"binary-mode data is not JSON: {exc}") from exc
        attributes["datacontenttype"] = media
        try:
            return cls.model_validate({**attributes, "data": data})
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


_BINARY_PREFIXES = ("cloudEvents:", "cloudEvents_", "ce-", "ce_")


def _binary_attributes(headers: Mapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, value in headers.items():
        for prefix in _BINARY_PREFIXES:
            if key.startswith(prefix):
                name = key[len(prefix) :].lower()
                attributes[name] = value.decode(errors="replace") if isinstance(value, bytes) else value
                break
    return attributes


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
