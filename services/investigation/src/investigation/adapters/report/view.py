"""An 8D report laid out as plain, already formatted strings, for one language.

The HTML and the PDF template both loop over the same view, so the two outputs show the same
sections and the customer version cuts the same data from both. The view is JSON-able: the PDF
template gets it as data through `sys.inputs`, never as Typst markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, TypedDict

from investigation.adapters.report.labels import EMPTY, Language, code_name, label
from investigation.domain.report import FISHBONE_CATEGORIES, Action, EightDReport, InternalSection

BlockKind = Literal["text", "fields", "table"]


class Block(TypedDict):
    kind: BlockKind
    title: str  # "" for none
    text: str  # kind "text"; may hold newlines
    fields: list[list[str]]  # kind "fields": [label, value] pairs
    columns: list[str]  # kind "table"
    widths: list[float]  # kind "table": relative column widths
    rows: list[list[str]]


class Section(TypedDict):
    key: str
    title: str
    blocks: list[Block]


class ReportView(TypedDict):
    lang: Language
    html_lang: str
    region: str
    title: str
    version_label: str
    doc_title: str
    internal: bool
    confidential: str
    page_label: str  # with {page} and {total}, filled in by the PDF template
    number: str
    factory: str
    meta: list[list[str]]  # [label, value] pairs
    headline: list[str]  # [label, value] of the phenomenon
    sections: list[Section]


def text(value: str | None) -> str:
    return value if value is not None and value.strip() else EMPTY


def when(value: datetime | date | None) -> str:
    """Minutes and the UTC offset the caller gave: the report shows the factory's local time."""
    if value is None:
        return EMPTY
    if not isinstance(value, datetime):
        return value.isoformat()
    shown = value.strftime("%Y-%m-%d %H:%M")
    if value.utcoffset() is None:
        return shown
    offset = value.strftime("%z")  # +0800
    return f"{shown} {offset[:3]}:{offset[3:5]}"


def number(value: int | None) -> str:
    return EMPTY if value is None else f"{value:,}"


def percent(value: Decimal | None) -> str:
    return EMPTY if value is None else f"{value.normalize():f}%"


def money(value: Decimal | None, lang: Language) -> str:
    if value is None:
        return EMPTY
    return f"¥{value:,.2f}" if lang == "zh" else f"CNY {value:,.2f}"


def yes_no(value: bool | None, lang: Language) -> str:
    return EMPTY if value is None else label("yes" if value else "no", lang)


def joined(values: Iterable[str], lang: Language) -> str:
    items = [v for v in values if v.strip()]
    return ("、" if lang == "zh" else ", ").join(items) if items else EMPTY


def _block(
    kind: BlockKind,
    title: str = "",
    *,
    body: str = "",
    fields: Sequence[tuple[str, str]] = (),
    columns: Sequence[str] = (),
    widths: Sequence[float] = (),
    rows: Sequence[Sequence[str]] = (),
) -> Block:
    return Block(
        kind=kind,
        title=title,
        text=body,
        fields=[list(f) for f in fields],
        columns=list(columns),
        widths=list(widths),
        rows=[list(r) for r in rows],
    )


def _paragraph(title: str, value: str | None) -> Block:
    return _block("text", title, body=text(value))


def _table(title: str, columns: Sequence[str], widths: Sequence[float], rows: Sequence[Sequence[str]]) -> Block:
    if not rows:  # an empty table says nothing: show the dash instead
        return _block("text", title, body=EMPTY)
    return _block("table", title, columns=columns, widths=widths, rows=rows)


def _actions(title: str, actions: Sequence[Action], lang: Language) -> Block:
    columns = [label(k, lang) for k in ("action", "owner", "due", "state", "completed_on")]
    rows = [
        [text(a.description), text(a.owner), when(a.due), code_name("state", a.state, lang), when(a.completed_on)]
        for a in actions
    ]
    return _table(title, columns, [5, 1.6, 1.6, 1.3, 1.6], rows)


def _sections(report: EightDReport, lang: Language) -> list[Section]:
    def section(key: str, *blocks: Block) -> Section:
        return Section(key=key, title=label(key, lang), blocks=list(blocks))

    def L(key: str) -> str:  # a label, short: the lists below are long
        return label(key, lang)

    problem, cause, validation = report.problem, report.root_cause, report.validation
    whys = [
        _block(
            "fields",
            label("chain", lang, n=i),
            fields=[(label("why_n", lang, n=j), text(why)) for j, why in enumerate(chain, start=1)],
        )
        for i, chain in enumerate(report.root_cause.five_whys, start=1)
        if chain
    ]
    fishbone = [
        [code_name("fishbone", category, lang), "\n".join(cause.fishbone.get(category, ())) or EMPTY]
        for category in FISHBONE_CATEGORIES
    ]
    return [
        section(
            "d0",
            _paragraph(L("emergency_response"), report.emergency_response),
            _table(
                L("scope"),
                [L("location"), L("quantity"), L("disposition"), L("note")],
                [1.5, 1, 1.5, 4],
                [
                    [
                        code_name("location", s.location, lang),
                        number(s.quantity),
                        code_name("disposition", s.disposition, lang),
                        text(s.note),
                    ]
                    for s in report.scope
                ],
            ),
        ),
        section(
            "d1",
            _table(
                "",
                [L("name"), L("role"), L("department")],
                [2, 2, 3],
                [[text(m.name), code_name("role", m.role, lang), text(m.department)] for m in report.team],
            ),
        ),
        section(
            "d2",
            _paragraph(L("description"), problem.description),
            _block(
                "fields",
                "5W2H",
                fields=[
                    (L(k), text(getattr(problem, k)))
                    for k in ("what", "where", "when", "who", "why", "how", "how_many")
                ],
            ),
        ),
        section("d3", _actions("", report.containment, lang)),
        section(
            "d4",
            _paragraph(L("occurrence"), cause.occurrence),
            _paragraph(L("escape"), cause.escape),
            *(whys or [_paragraph(L("five_whys"), None)]),
            _table(L("fishbone"), [L("fishbone_category"), L("causes")], [1.5, 6], fishbone),
        ),
        section("d5", _actions("", report.corrective_actions, lang)),
        section(
            "d6",
            _table(
                "",
                [L("lot"), L("checked_at"), L("inspected_quantity"), L("defect_found"), L("note")],
                [2, 2.2, 1.3, 1.3, 3],
                [
                    [
                        text(lot.lot),
                        when(lot.checked_at),
                        number(lot.inspected_quantity),
                        yes_no(lot.defect_found, lang),
                        text(lot.note),
                    ]
                    for lot in validation.lots
                ],
            ),
            _block("fields", fields=[(L("verdict"), code_name("verdict", validation.verdict, lang))]),
        ),
        section(
            "d7",
            _paragraph(L("prevention"), report.prevention.text),
            _table(
                L("documents"),
                [L("code"), L("document"), L("revision")],
                [2, 5, 2],
                [[text(d.code), text(d.title), text(d.revision)] for d in report.prevention.documents],
            ),
        ),
        section(
            "d8",
            _block(
                "fields",
                fields=[
                    (L("closed_at"), when(report.closure.closed_at)),
                    (L("closure_text"), text(report.closure.text)),
                ],
            ),
        ),
    ]


def _internal_sections(internal: InternalSection, lang: Language) -> list[Section]:
    def L(key: str) -> str:
        return label(key, lang)

    dispute = internal.dispute
    return [
        Section(
            key="responsibility",
            title=L("responsibility"),
            blocks=[
                _table(
                    "",
                    [L("party"), L("kind"), L("person"), L("role"), L("share")],
                    [2.5, 1.5, 1.5, 1.5, 1],
                    [
                        [text(p.name), code_name("kind", p.kind, lang), text(p.person), text(p.role), percent(p.share)]
                        for p in internal.parties
                    ],
                )
            ],
        ),
        Section(
            key="accident",
            title=L("accident"),
            blocks=[
                _block(
                    "fields",
                    fields=[
                        (L("accident_class"), code_name("accident_class", internal.accident_class, lang)),
                        (L("loss_amount"), money(internal.loss_amount, lang)),
                        (L("rule_codes"), joined(internal.rule_codes, lang)),
                    ],
                )
            ],
        ),
        Section(
            key="penalties",
            title=L("penalties"),
            blocks=[
                _table(
                    "",
                    [L("party"), L("amount"), L("measure"), L("rule_code")],
                    [2, 1.5, 4, 1.5],
                    [
                        [text(p.party), money(p.amount, lang), text(p.measure), text(p.rule_code)]
                        for p in internal.penalties
                    ],
                )
            ],
        ),
        Section(
            key="dispute",
            title=L("dispute"),
            blocks=[
                _block(
                    "fields",
                    fields=[
                        (L("raised_by"), text(dispute.raised_by if dispute else None)),
                        (L("raised_at"), when(dispute.raised_at if dispute else None)),
                        (L("reason"), text(dispute.reason if dispute else None)),
                        (L("ruling"), text(dispute.ruling if dispute else None)),
                        (L("ruled_by"), text(dispute.ruled_by if dispute else None)),
                        (L("ruled_at"), when(dispute.ruled_at if dispute else None)),
                    ],
                )
            ],
        ),
        Section(
            key="history",
            title=L("history"),
            blocks=[
                _table(
                    "",
                    [L("at"), L("actor"), L("what_done"), L("note")],
                    [2.2, 1.5, 2.5, 3.5],
                    [[when(h.at), text(h.actor), text(h.action), text(h.note)] for h in internal.history],
                )
            ],
        ),
    ]


def build_view(report: EightDReport, lang: Language) -> ReportView:
    """The report as the templates show it; internal sections only in the internal version."""
    internal = report.version == "internal"
    version_label = label(f"version.{report.version}", lang)
    sections = _sections(report, lang)
    if internal:
        sections += _internal_sections(report.internal or InternalSection(), lang)
    title = label("title", lang)
    return ReportView(
        lang=lang,
        html_lang="zh-CN" if lang == "zh" else "en",
        region="cn" if lang == "zh" else "gb",
        title=title,
        version_label=version_label,
        doc_title=f"{title} {report.number} · {version_label}",
        internal=internal,
        confidential=label("confidential", lang),
        page_label=label("page", lang, page="{page}", total="{total}"),
        number=report.number,
        factory=report.factory,
        meta=[
            [label("number", lang), text(report.number)],
            [label("factory", lang), text(report.factory)],
            [label("customer", lang), text(report.customer_company)],
            [label("product_model", lang), text(report.product_model)],
            [label("part_number", lang), text(report.part_number)],
            [label("received_at", lang), when(report.received_at)],
            [label("severity", lang), code_name("severity", report.severity, lang)],
            [label("category", lang), code_name("category", report.category, lang)],
            [label("version", lang), version_label],
            [label("generated_at", lang), when(report.generated_at)],
        ],
        headline=[label("phenomenon", lang), text(report.phenomenon)],
        sections=sections,
    )
