"""Notice texts from Jinja2 templates, in Chinese and English (implements domain.rendering.Renderer).

Layout: `templates/<locale>/<template>.txt.j2`, locale `zh` or `en`; `<template>` is the notice's
template name (the trigger, e.g. `investigation.triaged`, `sla.breached`, `digest`). Files
whose name starts with `_` are shared macros (`{% import "_macros.txt.j2" as m %}`), never
notices.

Convention: a template defines two blocks, `{% block subject %}` and `{% block body %}`, and
nothing else; each block is rendered on its own with the notice's context, so a block that
uses macros imports them itself (a top-level import is not seen by a block rendered alone).
Plain text: no autoescaping; an undefined name is an error (StrictUndefined), so a context
missing a key the template uses fails loudly rather than sending a gap. After rendering, the
subject becomes one line (its lines joined by a space) and the body loses trailing spaces,
leading and trailing blank lines, and runs of blank lines (one blank line stays: a paragraph).

What the templates may use besides the context:
- filters `<kind>_name` for every kind of notification.domain.messages.NAMES, in the template's
  locale: `milestone_name` (also `action:<id>`), `severity_name`, `category_name`,
  `special_name`, `accident_class_name`, `loss_class_name`, `dispute_kind_name`,
  `line_kind_name`, `payer_role_name`, `role_name`, `outcome_name`, `level_name`; a code without
  a name is shown as it is;
- filter `money(currency="CNY")` on a formatted amount: `961.73 元` (zh, CNY) or `961.73 CNY`;
- filter `duration` on seconds (int): `1 天 4 小时`, `4 h 30 min` (text passes as it is);
- global `locale`: "zh" or "en".

Locale `both` (a role's inbox, a group's robot: no one person's language) is Chinese, then
English: subject `"{zh} / {en}"`, body `"{zh}\\n\\n{en}"`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, get_args

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound

from notification.domain.messages import NAMES, name
from notification.domain.policy import Locale
from notification.domain.rendering import Rendered, RenderLocale

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOCALES: tuple[Locale, ...] = get_args(Locale)
SUFFIX = ".txt.j2"
BLOCKS = ("subject", "body")

# A template name: dotted lowercase words (no path, no leading `_`).
_NAME = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*$")
_BLANK_LINES = re.compile(r"\n{3,}")


def _money(locale: Locale, amount: object, currency: str = "CNY") -> str:
    if locale == "zh" and currency == "CNY":
        return f"{amount} 元"
    return f"{amount} {currency}"


_UNITS: Mapping[Locale, tuple[str, str, str]] = {"zh": (" 天", " 小时", " 分钟"), "en": (" d", " h", " min")}


def _duration(locale: Locale, value: object) -> str:
    """A duration in seconds (or a timedelta) in words: `1 天 4 小时`, `4 h 30 min`; under a
    minute, `1 分钟`/`1 min`. Text is shown as it is."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    minutes = max(1, round(abs(value) / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in zip((days, hours, minutes), _UNITS[locale], strict=True) if n]
    return " ".join(parts)


def _named(kind: str, locale: Locale, code: object) -> str:
    return name(kind, code, locale)


def _environment(directory: Path, locale: Locale) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory, encoding="utf-8"),
        autoescape=False,  # plain text: e-mail text parts, chat messages, the in-app inbox
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # compiled once: a changed file needs a restart
        cache_size=-1,
    )
    filters: dict[str, Callable[..., str]] = {f"{kind}_name": partial(_named, kind, locale) for kind in NAMES}
    filters["money"] = partial(_money, locale)
    filters["duration"] = partial(_duration, locale)
    env.filters.update(filters)
    env.globals["locale"] = locale
    return env


def _subject(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _body(text: str) -> str:
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", lines).strip("\n")


class JinjaRenderer:
    """Renders a notice's template in a locale. Templates are compiled on first use and kept."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or TEMPLATES
        self._environments = {locale: _environment(self.directory / locale, locale) for locale in LOCALES}
        self._compiled: dict[tuple[Locale, str], Template] = {}

    def render(self, template: str, locale: RenderLocale, context: Mapping[str, Any]) -> Rendered:
        """The template's subject and body in `locale`; LookupError for an unknown template."""
        if locale == "both":
            zh, en = self._render(template, "zh", context), self._render(template, "en", context)
            return Rendered(subject=f"{zh.subject} / {en.subject}", body=f"{zh.body}\n\n{en.body}")
        if locale not in LOCALES:
            raise ValueError(f"unknown locale {locale!r}: zh, en or both")
        return self._render(template, locale, context)

    def templates(self) -> frozenset[str]:
        """The template names every locale has."""
        names = [
            {n.removesuffix(SUFFIX) for n in env.list_templates() if n.endswith(SUFFIX)}
            for env in self._environments.values()
        ]
        return frozenset(n for n in set.intersection(*names) if _NAME.match(n))

    def load(self) -> None:
        """Compile every template of every locale now, the shared macros too: at start-up, a broken
        template fails there rather than on the first event (a missing one: see `templates()`)."""
        for locale, env in self._environments.items():
            for file in env.list_templates(filter_func=lambda n: n.endswith(SUFFIX)):
                if file.startswith("_"):
                    env.get_template(file)
                else:
                    self._template(file.removesuffix(SUFFIX), locale)

    def _template(self, template: str, locale: Locale) -> Template:
        key = (locale, template)
        compiled = self._compiled.get(key)
        if compiled is None:
            if not _NAME.match(template):
                raise LookupError(f"no notice template {template!r}")
            try:
                compiled = self._environments[locale].get_template(template + SUFFIX)
            except TemplateNotFound:
                raise LookupError(f"no notice template {template!r} in {locale}") from None
            missing = [block for block in BLOCKS if block not in compiled.blocks]
            if missing:
                raise LookupError(f"notice template {template!r} in {locale} has no {' or '.join(missing)} block")
            self._compiled[key] = compiled
        return compiled

    def _render(self, template: str, locale: Locale, context: Mapping[str, Any]) -> Rendered:
        compiled = self._template(template, locale)
        subject, body = ("".join(compiled.blocks[block](compiled.new_context(dict(context)))) for block in BLOCKS)
        return Rendered(subject=_subject(subject), body=_body(body))
