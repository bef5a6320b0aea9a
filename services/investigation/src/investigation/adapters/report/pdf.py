"""The 8D report as PDF, typeset by Typst with the Noto Sans SC font the project installs.

The font comes from the `pylopdf-fonts-zh-cn` wheel (Noto Sans SC / Noto Serif SC Regular, OFL,
hash-pinned in uv.lock), so `uv sync` alone gives every machine the same font; system fonts
and Typst's embedded (Latin-only) fonts are left out, so the PDF is the same everywhere.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path

import pylopdf_fonts_zh_cn
import typst

from investigation.adapters.report.labels import Language
from investigation.adapters.report.view import build_view
from investigation.domain.report import EightDReport

TEMPLATE = Path(__file__).with_name("templates") / "eight_d.typ"
FONT_FAMILY = "Noto Sans SC"  # the family the template sets


def font_directory() -> Path:
    return pylopdf_fonts_zh_cn.sans_path().parent


@functools.cache
def _fonts() -> typst.Fonts:
    # Scanned once per process; without the family Typst would print every glyph as tofu.
    fonts = typst.Fonts(include_system_fonts=False, include_embedded_fonts=False, font_paths=[font_directory()])
    if FONT_FAMILY not in fonts.families():
        raise RuntimeError(f"{FONT_FAMILY} not found in {font_directory()}: run `make install`")
    return fonts


def _epoch(moment: datetime) -> int:
    # The PDF's creation date is the report's, not the clock's (same input, same bytes).
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def render_pdf(report: EightDReport, lang: Language) -> bytes:
    """The report in `lang` as PDF bytes; the customer version holds no internal data.

    Sync and CPU-bound: from async code call it through `anyio.to_thread.run_sync`.
    """
    view = build_view(report, lang)
    return typst.compile(
        TEMPLATE,
        root=TEMPLATE.parent,  # the template may read nothing outside its own folder
        font_paths=_fonts(),
        ignore_system_fonts=True,
        format="pdf",
        # Data, not markup: the template sets these strings literally.
        sys_inputs={"report": json.dumps(view, ensure_ascii=False)},
        timestamp=_epoch(report.generated_at),
    )
