"""The 8D report: HTML and a real PDF (Typst, shipped Noto Sans SC) in Chinese and English,
customer version without internal data, user text shown literally (issue "8D report")."""

from __future__ import annotations

import asyncio
import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pypdf
import pytest
from pypdf.generic import DictionaryObject

from investigation.adapters.report import render_html, render_pdf
from investigation.adapters.report.labels import LANGUAGES, Language, label
from investigation.domain.report import (
    Action,
    Closure,
    Dispute,
    EightDReport,
    HistoryEntry,
    InternalSection,
    LotResult,
    Penalty,
    Prevention,
    ProblemDescription,
    ResponsibleParty,
    RootCause,
    ScopeLine,
    StandardisedDocument,
    TeamMember,
    Validation,
)

CST = timezone(timedelta(hours=8))
GENERATED = datetime(2026, 11, 21, 14, 5, tzinfo=CST)

CUSTOMER = "华东建设集团"
PHENOMENON = "预制楼板边角破损"
OCCURRENCE = "脱模起吊角度不当致边角受力"
WHY_3 = "作业指导书未规定起吊角度"
# Only in the internal version: parties, people, shares, loss, rule codes, penalty, dispute, history.
INTERNAL_ONLY = (
    "品管部",
    "制造三课",
    "张三丰",
    "赵六顺",
    "70%",
    "12,345.60",
    "KS-4.2.2",
    "通报批评",
    "异议理由甲",
    "确认投诉成立",
)
# Typst markup characters in what people typed: they must come out as written.
SPECIAL = r"#let x = 1 $y$ *z* _u_ @ref <lab> \n [b] 注意"


def full_report() -> EightDReport:
    return EightDReport(
        number="F01-2611-0007",
        factory="F01",
        version="internal",
        generated_at=GENERATED,
        customer_company=CUSTOMER,
        product_model="YB-3600 预制叠合楼板",
        part_number="PC-DHB-3600",
        phenomenon=PHENOMENON,
        received_at=datetime(2026, 11, 18, 9, 30, tzinfo=CST),
        severity="major",
        category="quality",
        emergency_response="冻结同批次库存，派员赴现场挑选。",
        scope=(
            ScopeLine("shipped", 120, "sorting", "工地现场挑选"),
            ScopeLine("wip", 40, "rework"),
            ScopeLine("warehouse", 300, "isolation"),
        ),
        team=(TeamMember("王强", "leader", "质量部"), TeamMember("李娜", "member", "生产部")),
        problem=ProblemDescription(
            description="客户收货时发现楼板边角破损。\n影响吊装。",
            what="边角破损",
            where="3 号楼工地",
            how_many="12 / 120 块",
        ),
        containment=(Action("现场挑选并更换破损楼板", "王强", date(2026, 11, 19), "done", date(2026, 11, 19)),),
        root_cause=RootCause(
            occurrence=OCCURRENCE,
            escape="出货检验未检查边角",
            five_whys=(("边角为何破损？起吊碰撞", "为何碰撞？吊具角度不当", WHY_3),),
            fishbone={"man": ("新员工未培训",), "method": ("缺少边角保护要求",)},
        ),
        corrective_actions=(Action("修订作业指导书", "李娜", date(2026, 11, 30), "in_progress"),),
        validation=Validation(
            lots=(
                LotResult("L2611-01", date(2026, 12, 1), 50, False),
                LotResult("L2611-02", date(2026, 12, 2), 50, False),
            ),
            verdict="pending",
        ),
        prevention=Prevention(SPECIAL, (StandardisedDocument("脱模起吊作业指导书", "WI-PC-012", "B/0"),)),
        closure=Closure(text="<script>alert(1)</script>"),
        internal=InternalSection(
            parties=(
                ResponsibleParty("品管部", Decimal("70"), "department", "张三丰", "出货检验员"),
                ResponsibleParty("制造三课", Decimal("30"), "department", "赵六顺"),
            ),
            accident_class="technical_general",
            loss_amount=Decimal("12345.60"),
            rule_codes=("KS-4.2.2",),
            penalties=(Penalty("张三丰", Decimal("200"), "通报批评"),),
            dispute=Dispute(raised_by="制造三课", reason="异议理由甲"),
            history=(HistoryEntry(datetime(2026, 11, 18, 10, 0, tzinfo=CST), "王强", "确认投诉成立"),),
        ),
    )


def pdf_text(pdf: bytes) -> str:
    """The PDF's text without whitespace: the extractor's spacing around CJK is not the point."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "".join("".join(page.extract_text() for page in reader.pages).split())


def compact(value: str) -> str:
    return "".join(value.split())


def pdf_fonts(pdf: bytes) -> set[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    names: set[str] = set()
    for page in reader.pages:
        resources = page["/Resources"].get_object()
        assert isinstance(resources, DictionaryObject)
        fonts = resources["/Font"].get_object()
        assert isinstance(fonts, DictionaryObject)
        for font in fonts.values():
            font_dict = font.get_object()
            assert isinstance(font_dict, DictionaryObject)
            names.add(str(font_dict["/BaseFont"]))
    return names


@pytest.fixture(scope="module")
def report() -> EightDReport:
    return full_report()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_pdf_holds_the_cases_chinese_data_in_the_shipped_font(report: EightDReport, lang: Language) -> None:
    pdf = render_pdf(report, lang)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for needle in (CUSTOMER, PHENOMENON, OCCURRENCE, WHY_3, "F01-2611-0007"):
        assert compact(needle) in text
    assert ("根本原因" in text) == (lang == "zh")
    assert ("Rootcause" in text) == (lang == "en")
    fonts = pdf_fonts(pdf)
    assert fonts and all("NotoSansSC" in name for name in fonts), fonts


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_html_is_in_the_language_asked(report: EightDReport, lang: Language) -> None:
    html = render_html(report, lang)
    assert html.startswith("<!DOCTYPE html>")
    assert CUSTOMER in html and PHENOMENON in html and WHY_3 in html
    assert ("D4 根本原因分析" in html) == (lang == "zh")
    assert ("D4 Root cause analysis" in html) == (lang == "en")
    assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html
    assert "http://" not in html and "https://" not in html  # self-contained


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_internal_version_shows_the_internal_data(report: EightDReport, lang: Language) -> None:
    # The other side of the next test: these strings are there to be found when they are meant to.
    text, html = pdf_text(render_pdf(report, lang)), render_html(report, lang)
    money = "¥12,345.60" if lang == "zh" else "CNY12,345.60"
    assert money in text
    for needle in INTERNAL_ONLY:
        assert needle in text and needle in html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_customer_version_omits_internal_data(report: EightDReport, lang: Language) -> None:
    customer = report.customer_version()
    assert customer.version == "customer" and customer.internal is None
    text, html = pdf_text(render_pdf(customer, lang)), render_html(customer, lang)
    assert CUSTOMER in text and PHENOMENON in html
    for needle in (*INTERNAL_ONLY, label("responsibility", lang), label("confidential", lang)):
        assert compact(needle) not in text, needle
        assert needle not in html, needle


def test_a_customer_version_cannot_carry_internal_data() -> None:
    with pytest.raises(ValueError, match="customer version"):
        EightDReport("F01-2611-0007", "F01", "customer", GENERATED, internal=InternalSection())


def test_the_html_escapes_what_people_typed(report: EightDReport) -> None:
    html = render_html(report, "zh")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_typst_markup_in_user_text_is_printed_as_written(report: EightDReport, lang: Language) -> None:
    text = pdf_text(render_pdf(report, lang))
    assert compact(SPECIAL) in text
    assert "<script>alert(1)</script>" in text


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("version", ["customer", "internal"])
def test_an_unfinished_case_renders(lang: Language, version: str) -> None:
    empty = EightDReport("F01-2611-0001", "F01", "internal", GENERATED)
    if version == "customer":
        empty = empty.customer_version()
    text = pdf_text(render_pdf(empty, lang))
    assert "F01-2611-0001" in text and "—" in text
    assert "F01-2611-0001" in render_html(empty, lang)


def test_the_same_report_gives_the_same_pdf(report: EightDReport) -> None:
    # Only the shipped font and the report's own time go in: no machine or clock shows through.
    assert render_pdf(report, "zh") == render_pdf(report, "zh")


async def test_renders_in_worker_threads_side_by_side(report: EightDReport) -> None:
    zh, en = await asyncio.gather(
        asyncio.to_thread(render_pdf, report, "zh"), asyncio.to_thread(render_pdf, report, "en")
    )
    assert CUSTOMER in pdf_text(zh) and CUSTOMER in pdf_text(en)
