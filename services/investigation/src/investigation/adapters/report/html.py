"""The 8D report as one self-contained HTML page (inline print CSS, nothing fetched)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from investigation.adapters.report.labels import Language
from investigation.adapters.report.view import build_view
from investigation.domain.report import EightDReport

TEMPLATES = Path(__file__).with_name("templates")

# Autoescape everything: the report is full of what customers and employees typed.
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(report: EightDReport, lang: Language) -> str:
    """The report in `lang`; the customer version holds no internal data. Sync: CPU only."""
    return _ENV.get_template("eight_d.html.j2").render(r=build_view(report, lang))
