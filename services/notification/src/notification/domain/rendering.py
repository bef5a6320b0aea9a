"""How a notice becomes text: a template per locale (the port; Jinja2 implements it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# `both`: Chinese, then English; for addresses that are no person (a role's inbox, a group robot).
RenderLocale = Literal["zh", "en", "both"]


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class Renderer(Protocol):
    def render(self, template: str, locale: RenderLocale, context: Mapping[str, Any]) -> Rendered:
        """The template's subject and body in `locale`; raises LookupError for an unknown template."""
        ...
