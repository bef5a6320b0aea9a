"""The 8D report rendered as self-contained HTML (Jinja2) and as PDF (Typst, shipped CJK font).

Both renderers are synchronous and CPU-bound: async callers run them in a worker thread
(`anyio.to_thread.run_sync` / `asyncio.to_thread`).
"""

from investigation.adapters.report.html import render_html
from investigation.adapters.report.labels import LANGUAGES, Language
from investigation.adapters.report.pdf import render_pdf

__all__ = ["LANGUAGES", "Language", "render_html", "render_pdf"]
