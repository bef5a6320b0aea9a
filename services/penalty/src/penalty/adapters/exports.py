"""The monthly ledger as files for HR and finance: CSV (UTF-8 with BOM, so Excel reads Chinese)
and XLSX (numbers as numbers, ids as text). Headers are in Chinese and English.

A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula, so a
party or payee name such as `=HYPERLINK(...)` would run on the reader's machine: in the CSV such
a text cell gets a leading apostrophe (amounts, which are numbers, are written as numbers, a
negative reversal included); in the XLSX every text is written as a string cell, never parsed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]  # ships no py.typed (3.3.1)

from penalty.domain.ledger import LedgerEntry, LedgerTotals, Totals
from penalty.domain.terms import LineKind
from penalty.service.handlers import Ledger

BOM = "\ufeff"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def illustrative_warning(codes: Sequence[str]) -> tuple[str, str] | None:
    """The warning (Chinese, English) every ledger carries while the factory runs on
    illustrative coefficients; None once it set its own."""
    if not codes:
        return None
    listed = ", ".join(codes)
    return (
        f"注意：考核规则 {listed} 仍使用示例系数（制度引用但未给出系数表），由其计算的金额仅供参考；"
        "请在本厂政策文件中设定本厂的系数后再据此扣款。",
        f"Warning: penalty rule(s) {listed} run on ILLUSTRATIVE coefficients (the regulation refers to "
        "coefficient tables it does not print); the amounts they produce are indicative only until the "
        "factory sets its own values in its policy file.",
    )


def defuse(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


# -- what both formats show ---------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    zh: str
    en: str

    @property
    def header(self) -> str:
        return f"{self.zh} {self.en}"


LINE_COLUMNS = (
    Column("行类型", "row"),
    Column("工厂", "factory"),
    Column("期间", "period"),
    Column("投诉编号", "complaint"),
    Column("考核单", "assessment"),
    Column("状态", "status"),
    Column("调整", "adjustment"),
    Column("规则", "rule"),
    Column("类别", "kind"),
    Column("角色", "role"),
    Column("对象类型", "payee kind"),
    Column("对象编号", "payee id"),
    Column("对象", "payee"),
    Column("部门", "department"),
    Column("责任方", "party"),
    Column("依据", "basis"),
    Column("金额", "amount"),
    Column("绩效分", "performance points"),
    Column("管理分", "management points"),
    Column("待人力确认", "unresolved"),
    Column("示例系数", "illustrative"),
    Column("原金额", "original amount"),
    Column("备注", "note"),
)

LINE = "明细 line"
DEPARTMENT = "部门合计 department total"
PERSON = "个人合计 person total"
SUPPLIER = "供应商转嫁 supplier charge-back"
TOTAL = "合计 total"
NOTE = "注意 note"

Cell = str | Decimal | int | bool | None


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def _points(entry: LedgerEntry) -> tuple[Decimal | None, Decimal | None]:
    line = entry.line
    if line.kind is not LineKind.POINTS:
        return None, None
    if line.points_ledger == "management":
        return None, line.points
    return line.points, None


def _line_row(book: Ledger, entry: LedgerEntry) -> list[Cell]:
    line = entry.line
    performance, management = _points(entry)
    return [
        LINE,
        book.factory,
        book.period,
        entry.number,
        entry.assessment_id,
        entry.status,
        _flag(entry.adjustment),
        line.rule_code,
        line.kind.value,
        line.role,
        line.payee.kind.value,
        line.payee.id,
        line.payee.name,
        line.department,
        line.party,
        line.basis,
        line.amount,
        performance,
        management,
        _flag(line.unresolved),
        _flag(line.illustrative),
        line.original_amount,
        line.note,
    ]


def _total_row(
    book: Ledger,
    kind: str,
    *,
    payee_id: str | None = None,
    payee: str | None = None,
    department: str | None = None,
    basis: str = "",
    amount: Decimal | None = None,
    performance: Decimal | None = None,
    management: Decimal | None = None,
    note: str = "",
) -> list[Cell]:
    row: list[Cell] = [None] * len(LINE_COLUMNS)
    row[0], row[1], row[2] = kind, book.factory, book.period
    row[11], row[12], row[13], row[15] = payee_id, payee, department, basis
    row[16], row[17], row[18], row[22] = amount, performance, management, note
    return row


def _summary_rows(book: Ledger, warning: tuple[str, str] | None) -> Iterator[list[Cell]]:
    t = book.totals
    for name, totals in sorted(t.departments.items()):
        yield _total_row(
            book,
            DEPARTMENT,
            department=name,
            basis=f"{totals.lines} line(s)",
            amount=totals.fines,
            performance=totals.performance_points,
            management=totals.management_points,
        )
    for (person_id, person), totals in sorted(t.people.items()):
        yield _total_row(
            book,
            PERSON,
            payee_id=person_id,
            payee=person,
            basis=f"{totals.lines} line(s)",
            amount=totals.fines,
            performance=totals.performance_points,
            management=totals.management_points,
        )
    for supplier, amount in sorted(t.suppliers.items()):
        yield _total_row(book, SUPPLIER, payee_id=supplier, payee=supplier, amount=amount)
    yield _total_row(book, TOTAL, basis="客诉赔偿额 compensation", amount=t.compensation)
    yield _total_row(
        book,
        TOTAL,
        basis="罚款 fines",
        amount=t.fines,
        performance=t.performance_points,
        management=t.management_points,
    )
    yield _total_row(book, TOTAL, basis="供应商转嫁 charge-backs", amount=t.charge_backs)
    yield _total_row(book, TOTAL, basis="质量损失成本 cost of poor quality", amount=t.cost_of_poor_quality)
    if warning is not None:
        yield _total_row(book, NOTE, note=f"{warning[0]} {warning[1]}")


# -- CSV ----------------------------------------------------------------------------------------


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _flag(value)
    if isinstance(value, Decimal | int):
        return str(value)  # a number, negative or not: never prefixed
    return defuse(value)


def ledger_csv(book: Ledger, warning: tuple[str, str] | None) -> bytes:
    """One row per line item, then the totals per department, person and supplier, the period's
    totals and, while the factory runs on illustrative coefficients, the warning."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in LINE_COLUMNS])
    for entry in book.entries:
        writer.writerow([_csv_cell(v) for v in _line_row(book, entry)])
    for row in _summary_rows(book, warning):
        writer.writerow([_csv_cell(v) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")


# -- XLSX ---------------------------------------------------------------------------------------


class _Sheet:
    """A worksheet written row by row: text as strings, amounts and points as numbers."""

    def __init__(self, workbook: Any, name: str, formats: dict[str, Any], warning: tuple[str, str] | None) -> None:
        self.ws = workbook.add_worksheet(name)
        self.formats = formats
        self.row = 0
        self.widths: dict[int, int] = {}
        if warning is not None:
            self.ws.write_string(self.row, 0, warning[0], formats["warning"])
            self.ws.write_string(self.row + 1, 0, warning[1], formats["warning"])
            self.row += 2

    def header(self, columns: Sequence[Column]) -> None:
        for col, column in enumerate(columns):
            self.ws.write_string(self.row, col, column.header, self.formats["header"])
            self._width(col, len(column.header) + 2)
        self.ws.freeze_panes(self.row + 1, 0)
        self.row += 1

    def write(self, values: Sequence[Cell], *, money: Sequence[int] = (), bold: bool = False) -> None:
        for col, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, bool):
                self.ws.write_string(self.row, col, _flag(value))
            elif isinstance(value, Decimal | int):
                fmt = self.formats["money_bold" if bold else "money"] if col in money else None
                self.ws.write_number(self.row, col, float(value), fmt)
                self._width(col, 14)
            else:
                self.ws.write_string(self.row, col, value, self.formats["bold"] if bold else None)
                self._width(col, min(60, len(value) + 2))
        self.row += 1

    def _width(self, col: int, width: int) -> None:
        if width > self.widths.get(col, 0):
            self.widths[col] = width
            self.ws.set_column(col, col, width)


def _totals_values(t: Totals) -> list[Cell]:
    return [t.fines, t.performance_points, t.management_points, t.lines]


SUMMARY_COLUMNS = (Column("项目", "item"), Column("数值", "value"))
DEPARTMENT_COLUMNS = (
    Column("部门", "department"),
    Column("罚款", "fines"),
    Column("绩效分", "performance points"),
    Column("管理分", "management points"),
    Column("明细数", "lines"),
)
PEOPLE_COLUMNS = (
    Column("人员编号", "person id"),
    Column("姓名", "name"),
    Column("罚款", "fines"),
    Column("绩效分", "performance points"),
    Column("管理分", "management points"),
    Column("明细数", "lines"),
)
CHARGE_BACK_COLUMNS = (
    Column("供应商", "supplier"),
    Column("投诉编号", "complaint"),
    Column("考核单", "assessment"),
    Column("依据", "basis"),
    Column("金额", "amount"),
)


def _summary(sheet: _Sheet, book: Ledger, currency: str) -> None:
    t: LedgerTotals = book.totals
    state = book.period_state
    sheet.header(SUMMARY_COLUMNS)
    rows: list[tuple[str, Cell, bool]] = [
        ("工厂 factory", book.factory, False),
        ("期间 period", book.period, False),
        ("状态 state", "closed" if book.closed else "open", False),
        ("关账时间 closed at", state.closed_at.isoformat() if state and state.closed_at else None, False),
        ("关账人 closed by", state.closed_by if state else None, False),
        ("币种 currency", currency, False),
        ("客诉赔偿额 compensation", t.compensation, True),
        ("罚款 fines", t.fines, True),
        ("供应商转嫁 charge-backs", t.charge_backs, True),
        ("质量损失成本 cost of poor quality", t.cost_of_poor_quality, True),
        ("绩效分 performance points", t.performance_points, False),
        ("管理分 management points", t.management_points, False),
        ("待人力确认明细 unresolved lines", t.unresolved, False),
        ("未审批考核单 pending assessments", t.pending, False),
        ("示例系数规则 illustrative rules", ", ".join(book.illustrative_rules) or None, False),
    ]
    for label, value, money in rows:
        sheet.write([label, value], money=(1,) if money else ())


def ledger_xlsx(book: Ledger, warning: tuple[str, str] | None, currency: str = "CNY") -> bytes:
    """Sheets Summary, Departments, People, Lines and Charge-backs of the period's ledger."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            # Nothing is ever guessed from text: a text stays a text (write_string is used anyway).
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    formats = {
        "header": workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}),
        "money": workbook.add_format({"num_format": "#,##0.00"}),
        "money_bold": workbook.add_format({"num_format": "#,##0.00", "bold": True}),
        "bold": workbook.add_format({"bold": True}),
        "warning": workbook.add_format({"bold": True, "font_color": "#C00000"}),
    }

    _summary(_Sheet(workbook, "Summary", formats, warning), book, currency)

    departments = _Sheet(workbook, "Departments", formats, warning)
    departments.header(DEPARTMENT_COLUMNS)
    for name, totals in sorted(book.totals.departments.items()):
        departments.write([name, *_totals_values(totals)], money=(1,))

    people = _Sheet(workbook, "People", formats, warning)
    people.header(PEOPLE_COLUMNS)
    for (person_id, name), totals in sorted(book.totals.people.items()):
        people.write([person_id, name, *_totals_values(totals)], money=(2,))

    lines = _Sheet(workbook, "Lines", formats, warning)
    lines.header(LINE_COLUMNS)
    amount_columns = (16, 21)
    for entry in book.entries:
        lines.write(_line_row(book, entry), money=amount_columns)

    charge_backs = _Sheet(workbook, "Charge-backs", formats, warning)
    charge_backs.header(CHARGE_BACK_COLUMNS)
    for entry in book.entries:
        if entry.line.kind is LineKind.CHARGE_BACK:
            line = entry.line
            charge_backs.write(
                [line.payee.name, entry.number, entry.assessment_id, line.basis, line.amount], money=(4,)
            )
    for supplier, amount in sorted(book.totals.suppliers.items()):
        charge_backs.write([supplier, None, None, "合计 total", amount], money=(4,), bold=True)

    workbook.close()
    return out.getvalue()
