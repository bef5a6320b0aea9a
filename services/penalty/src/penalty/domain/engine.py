"""The rule engine: a determination or a breach, the factory's rule table and organisation in,
line items out. Pure and deterministic: the same input always gives the same lines in the same
order (DOMAIN.md §4).

- Per-occurrence / per-piece / points rules apply to the parties a finding names, or to every
  internal party when it names none; each payer role of the rule is resolved through the
  organisation directory. A company-wide payer (the GM) is charged once per finding, not once
  per department.
- The loss-proportional rule (4.3.3.2) applies to every determination with a loss: compensation
  × coefficient (accident class × payer role) × the party's share; QC parties are judged by the
  QC table, which covers the management-control classes only (seed 000 §4.3.3.2.3 (3)).
- Tiered rules (002-2.6) apply to the brackets of the party's part of the loss.
- A supplier's share becomes a charge-back line (loss × share), outside the internal ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from penalty.domain.organisation import Organisation, Person
from penalty.domain.policy import Kind, Payer, PenaltyPolicy, Rule, RuleTable
from penalty.domain.terms import (
    Breach,
    Computation,
    Degree,
    Determination,
    Finding,
    LineItem,
    LineKind,
    Party,
    Payee,
    PayeeKind,
)

HUNDRED = Decimal(100)
# Payer roles charged once per finding, whichever departments are responsible.
COMPANY_WIDE = frozenset({"general_manager"})


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def resolve(role: str, party: Party | None, department: str | None, org: Organisation) -> Payee:
    """The payee of `role` for a responsible party: a person, the department, or the role itself."""
    canonical, dept = org.department(department)
    found: Person | None = None
    if role == "responsible_person":
        if party is not None and party.kind == "person":
            return Payee(PayeeKind.PERSON, party.name, party.name)
    elif role == "workshop":
        if canonical is not None:
            return Payee(PayeeKind.DEPARTMENT, canonical, canonical)
    elif role == "general_manager":
        found = org.general_manager
    elif dept is not None and role == "department_head":
        found = dept.head
    elif dept is not None and role == "director":
        found = dept.director
    if found is None and dept is not None:
        found = dept.roles.get(role)
    if found is None and role not in ("responsible_person", "workshop", "department_head", "director"):
        found = org.roles.get(role)
    if found is not None:
        return Payee(PayeeKind.PERSON, found.id, found.name)
    if canonical and role not in COMPANY_WIDE:
        return Payee(PayeeKind.ROLE, f"{role}:{canonical}", f"{role} of {canonical}")
    return Payee(PayeeKind.ROLE, role, role)


def canonical(department: str | None, org: Organisation) -> str | None:
    """The directory's name of a department (a determination may use an alias)."""
    return org.department(department)[0]


class _Lines:
    """Collects lines, dropping the repeats of company-wide payers within one finding."""

    def __init__(self, policy: PenaltyPolicy, org: Organisation) -> None:
        self.policy = policy
        self.org = org
        self.lines: list[LineItem] = []
        self.warnings: list[str] = []
        self._seen: set[tuple[str, str, str]] = set()

    def new_finding(self) -> None:
        self._seen = set()

    def payees(self, payer: Payer, party: Party | None, department: str | None) -> Iterator[tuple[str, Payee, Decimal]]:
        """(role, payee, fraction of the payer's amount) – a payer with a split is several."""
        parts = payer.split.items() if payer.split else [(payer.role, HUNDRED)]
        for role, percent in parts:
            yield role, resolve(role, party, department, self.org), percent / HUNDRED

    def add(self, line: LineItem, *, once: bool = False) -> None:
        """`once`: a payee is charged once per finding (per time / piece), however many of the
        responsible parties lead to them; company-wide payers always."""
        if once or line.role in COMPANY_WIDE:
            key = (line.rule_code, line.role, line.payee.id)
            if key in self._seen:
                return
            self._seen.add(key)
        self.lines.append(line)


def _targets(finding: Finding | None, parties: Iterable[Party], lines: _Lines, code: str) -> list[Party]:
    internal = [p for p in parties if p.internal]
    if finding is None or finding.party is None:
        # A department named beside a person of it is the same responsibility: the person
        # carries the responsible-person line, the department's roles are charged once.
        with_person = {canonical(p.department_name, lines.org) for p in internal if p.kind == "person"}
        return [
            p
            for p in internal
            if p.kind == "person"
            or p.department_name is None
            or canonical(p.department_name, lines.org) not in with_person
        ]
    named = [p for p in internal if p.name == finding.party]
    if not named:
        lines.warnings.append(f"{code}: party {finding.party!r} is not among the determination's internal parties")
    return named


def _counted(
    code: str, rule: Rule, finding: Finding, party: Party | None, department: str | None, lines: _Lines
) -> None:
    """per_occurrence, per_piece and points rules."""
    department = canonical(department, lines.org) or department
    party_name = party.name if party else None
    for payer in rule.payers:
        for role, payee, fraction in lines.payees(payer, party, department):
            amount, points, ledger = Decimal(0), Decimal(0), None
            if rule.kind is Kind.POINTS:
                assert payer.points is not None
                kind, basis = LineKind.POINTS, f"{finding.occurrences} time(s) × {_fmt(payer.points)} points"
                points = payer.points * finding.occurrences * fraction
                ledger = rule.ledger.value if rule.ledger else None
            else:
                serious = finding.degree is Degree.SERIOUS and payer.serious_amount is not None
                unit = payer.serious_amount if serious else payer.amount
                assert unit is not None
                count, what = (
                    (finding.pieces, "piece(s)") if rule.kind is Kind.PER_PIECE else (finding.occurrences, "time(s)")
                )
                share = f" × {_fmt(fraction * HUNDRED)} %" if fraction != 1 else ""
                kind, basis = LineKind.FINE, f"{count} {what} × {_fmt(unit)}{' (serious)' if serious else ''}{share}"
                amount = lines.policy.rounding(unit * count * fraction)
            line = LineItem(
                rule_code=code,
                kind=kind,
                role=role,
                payee=payee,
                department=department,
                party=party_name,
                basis=basis,
                amount=amount,
                points=points,
                points_ledger=ledger,
            )
            lines.add(line, once=True)


def _tiered(code: str, rule: Rule, d: Determination, party: Party, lines: _Lines) -> None:
    """Brackets on the party's part of the loss (002-2.6: 20 % up to 10,000, 10 % above)."""
    part = d.loss_amount * party.share / HUNDRED
    total, lower, steps = Decimal(0), Decimal(0), []
    for bracket in rule.brackets:
        upper = bracket.up_to if bracket.up_to is not None else part
        slice_ = max(Decimal(0), min(part, upper) - lower)
        if slice_ > 0:
            total += slice_ * bracket.rate
            steps.append(f"{_fmt(slice_)} × {_fmt(bracket.rate * HUNDRED)} %")
        lower = max(lower, upper)
    department = canonical(party.department_name, lines.org) or party.department_name
    for payer in rule.payers:
        for role, payee, fraction in lines.payees(payer, party, department):
            lines.add(
                LineItem(
                    rule_code=code,
                    kind=LineKind.FINE,
                    role=role,
                    payee=payee,
                    department=department,
                    party=party.name,
                    basis=f"part of the loss {_fmt(d.loss_amount)} × {_fmt(party.share)} % = {_fmt(part)}: "
                    + " + ".join(steps or ["0"]),
                    amount=lines.policy.rounding(total * fraction),
                )
            )
            if rule.cancels_commission:
                deal = f" on order {d.order_number}" if d.order_number else ""
                lines.add(
                    LineItem(
                        rule_code=code,
                        kind=LineKind.COMMISSION_CANCELLED,
                        role=role,
                        payee=payee,
                        department=department,
                        party=party.name,
                        basis=f"commission{deal} cancelled, paid commission recovered",
                        note="取消该笔业务的提成 (已发放的予以扣回)",
                    )
                )


def _loss_coefficient(code: str, rule: Rule, d: Determination, lines: _Lines) -> None:
    """fine = compensation × coefficient × share (seed 000 §4.3.3.2.3)."""
    if d.loss_amount <= 0:
        return
    for party in (p for p in d.parties if p.internal):
        qc = party.role in rule.qc_roles or (party.kind == "role" and party.name in rule.qc_roles)
        wanted = "qc_and_quality" if qc else "workshop_and_managers"
        for table in (t for t in rule.coefficients if t.applies_to == wanted):
            if qc and not d.accident_class.management:
                lines.warnings.append(
                    f"{code}: {party.name} is judged by the QC table, which covers management-control "
                    f"accidents only; {d.accident_class.value} carries no QC fine"
                )
                continue
            row = table.classes.get(d.accident_class)
            if not row:
                continue
            department = canonical(party.department_name, lines.org) or party.department_name
            for role, coefficient in row.items():
                if coefficient == 0:
                    continue
                payee = resolve(role, party, department, lines.org)
                mark = " (illustrative coefficient)" if table.illustrative else ""
                lines.add(
                    LineItem(
                        rule_code=code,
                        kind=LineKind.FINE,
                        role=role,
                        payee=payee,
                        department=department,
                        party=party.name,
                        basis=f"{_fmt(d.loss_amount)} × {_fmt(coefficient)} × {_fmt(party.share)} %{mark}",
                        amount=lines.policy.rounding(d.loss_amount * coefficient * party.share / HUNDRED),
                        illustrative=table.illustrative,
                    )
                )


def _charge_backs(d: Determination, lines: _Lines) -> None:
    for party in (p for p in d.parties if not p.internal):
        lines.add(
            LineItem(
                rule_code="charge_back",
                kind=LineKind.CHARGE_BACK,
                role="supplier",
                payee=Payee(PayeeKind.SUPPLIER, party.name, party.name),
                department=None,
                party=party.name,
                basis=f"{_fmt(d.loss_amount)} × {_fmt(party.share)} % (seed 001 §5.3.2 全数转嫁给供货商)",
                amount=lines.policy.rounding(d.loss_amount * party.share / HUNDRED),
            )
        )


def _exempt(code: str, rule: Rule, finding: Finding, lines: _Lines) -> None:
    lines.add(
        LineItem(
            rule_code=code,
            kind=LineKind.EXEMPT,
            role="-",
            payee=Payee(PayeeKind.ROLE, "-", "-"),
            department=None,
            party=finding.party,
            basis=f"exempt: {finding.product_stage.value} ({rule.title})",
            note="样机、开发的新产品除外",
        )
    )


def assess_determination(
    d: Determination, policy: PenaltyPolicy, org: Organisation, *, version: str, table: RuleTable
) -> Computation:
    lines = _Lines(policy, org)
    explicit: set[str] = set()
    for finding in d.findings:
        lines.new_finding()
        rule = table.rules.get(finding.code)
        if rule is None:
            lines.warnings.append(f"{finding.code}: not in rule table {version}; no line computed, review the finding")
            continue
        explicit.add(finding.code)
        if rule.on_breach is not None:
            lines.warnings.append(f"{finding.code}: a process penalty, assessed from its SLA breach only")
            continue
        if finding.product_stage in rule.exempt:
            _exempt(finding.code, rule, finding, lines)
            continue
        if rule.kind is Kind.LOSS_COEFFICIENT:
            _loss_coefficient(finding.code, rule, d, lines)
            continue
        targets = _targets(finding, d.parties, lines, finding.code)
        for party in targets:
            if rule.kind is Kind.TIERED:
                _tiered(finding.code, rule, d, party, lines)
            else:
                _counted(finding.code, rule, finding, party, party.department_name, lines)
    for code, rule in sorted(table.rules.items()):
        if rule.automatic and code not in explicit:
            lines.new_finding()
            _loss_coefficient(code, rule, d, lines)
    _charge_backs(d, lines)
    return Computation(version, tuple(lines.lines), tuple(lines.warnings))


def assess_breach(
    b: Breach, policy: PenaltyPolicy, org: Organisation, *, version: str, table: RuleTable
) -> Computation:
    """Process penalties for a missed milestone (seed 000 §4.3.1.6, §4.3.2.1, §4.3.2.2)."""
    lines = _Lines(policy, org)
    finding = Finding(code="", occurrences=1)
    for code, rule in sorted(table.rules.items()):
        if rule.on_breach != b.milestone:
            continue
        lines.new_finding()
        _counted(code, rule, finding, None, b.department, lines)
    return Computation(version, tuple(lines.lines), tuple(lines.warnings))


def rules_for_breach(table: RuleTable, milestone: str) -> list[str]:
    return sorted(code for code, rule in table.rules.items() if rule.on_breach == milestone)
