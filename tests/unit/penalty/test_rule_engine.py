"""The rule engine on the default table (deploy/policies/default.yaml, DOMAIN.md §4).

The table-driven test starts from the public events, `investigation.responsibility_determined`
(and `sla.breached` for the process penalties), runs them through penalty's consumer and use
cases on the in-memory unit of work, and reads the draft's line items: every rule of the table,
each case naming the clause it checks. Directory: deploy/policies/F01.yaml `organisation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.contracts.events import SLA_BREACHED, ResponsibilityDetermined, SlaEvent
from cqm_shared.domain import InvalidInput
from cqm_shared.uow import MemoryStore
from penalty.adapters.rule_book import RuleBook
from penalty.domain import engine
from penalty.domain.model import Assessment, AssessmentStatus
from penalty.domain.policy import PenaltyPolicy
from penalty.domain.terms import (
    AccidentClass,
    Breach,
    Computation,
    Degree,
    Determination,
    Finding,
    LineKind,
    Party,
    PayeeKind,
    ProductStage,
)
from penalty.entrypoints.consumers import determination
from penalty.service.rules import FactoryRules
from tests.unit.penalty.fakes import (
    NOW,
    T0,
    amounts,
    breached,
    deliver,
    determine,
    finding,
    message,
    party,
    responsibility,
    rule_book,
    stored,
    uows,
)

# F01's directory: who the roles resolve to.
ASM_HEAD, PROD_VP, GM = "u-asm-head", "u-prod-vp", "u-gm-f01"
MACH_HEAD, QA_HEAD, QA_STD, QC_TEAM = "u-mach-head", "u-qa-head", "u-qa-std", "team-qc"
ASM_TEAM, PROCESS_GROUP = "team-asm-1", "u-pg-f01"
D = Decimal


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return rule_book()


@pytest.fixture(scope="module")
def f01(book: RuleBook) -> FactoryRules:
    return book.for_factory("F01")


def compute(rules: FactoryRules, payload: ResponsibilityDetermined) -> Computation:
    d = determination(payload)
    version, table = rules.policy.table_at(d.determined_at)
    return engine.assess_determination(d, rules.policy, rules.organisation, version=version, table=table)


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row of the default table, as an event penalty receives and the lines it must give."""

    clause: str  # what the rule's `source` cites
    rule: str
    event: ResponsibilityDetermined | SlaEvent
    fines: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (role, payee) -> CNY
    points: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (role, payee) -> points
    exempt: bool = False
    illustrative: bool = False
    total: Decimal | None = None  # the rule's fines in all, when the issue names it


ZHANG = party("person", "张三", 100, department="assembly")  # an assembly fitter, through the alias
ASSEMBLY = party("department", "装配车间", 100)
QUALITY = party("department", "品管部", 100)
SALES_LI = party("person", "李四", 100, department="销售部")  # a salesman: not in F01's directory

CASES = [
    Case(
        "seed 000 §5.2.3.1",
        "5.2.3.1",
        responsibility(ZHANG, findings=[finding("5.2.3.1", occurrences=2)]),
        fines={("department_head", ASM_HEAD): D(20), ("responsible_person", "张三"): D(100)},
    ),
    Case(
        "seed 000 §5.2.3.1",
        "5.2.3.1",
        responsibility(ZHANG, findings=[finding("5.2.3.1", product_stage="prototype")]),
        exempt=True,
    ),
    Case(
        "seed 000 §5.2.3.2",
        "5.2.3.2",
        responsibility(ZHANG, findings=[finding("5.2.3.2")]),
        fines={("department_head", ASM_HEAD): D(10), ("responsible_person", "张三"): D(50)},
    ),
    Case(
        "seed 000 §5.2.3.5",
        "5.2.3.5",
        responsibility(QUALITY, findings=[finding("5.2.3.5")]),
        fines={("standard_author", QA_STD): D(20), ("department_head", QA_HEAD): D(5)},
    ),
    Case(
        "seed 000 §5.2.3.5",
        "5.2.3.5",
        responsibility(QUALITY, findings=[finding("5.2.3.5", product_stage="new_product")]),
        exempt=True,
    ),
    Case(
        "seed 000 §5.2.3.6",
        "5.2.3.6",
        responsibility(ZHANG, findings=[finding("5.2.3.6")]),
        fines={("department_head", ASM_HEAD): D(10), ("responsible_person", "张三"): D(50)},
    ),
    Case(
        "seed 000 §5.2.3.7",
        "5.2.3.7",
        responsibility(ASSEMBLY, findings=[finding("5.2.3.7", pieces=3)]),
        fines={("team", ASM_TEAM): D(150), ("department_head", ASM_HEAD): D(30)},
        total=D(180),
    ),
    Case(
        "seed 000 §5.2.4",
        "5.2.4",
        responsibility(ASSEMBLY, findings=[finding("5.2.4")]),
        fines={("department_head", ASM_HEAD): D(50)},
    ),
    Case(
        "seed 000 §5.2.6",
        "5.2.6",
        responsibility(ZHANG, findings=[finding("5.2.6")]),
        fines={
            ("department_head", ASM_HEAD): D(100),
            ("responsible_person", "张三"): D(500),
            ("director", PROD_VP): D(200),
            ("general_manager", GM): D(100),
        },
        total=D(900),
    ),
    Case(
        "seed 000 §5.1.2",
        "5.1.2",
        responsibility(ZHANG, findings=[finding("5.1.2")]),
        fines={("department_head", ASM_HEAD): D(10), ("responsible_person", "张三"): D(50)},
    ),
    Case(
        "seed 000 §4.3.1.3",
        "4.3.1.3",
        responsibility(ZHANG, findings=[finding("4.3.1.3")]),
        fines={("responsible_person", "张三"): D(50)},
    ),
    Case(
        "seed 000 §4.3.1.3",  # 情节严重造成影响者 … 罚款100元
        "4.3.1.3",
        responsibility(ZHANG, findings=[finding("4.3.1.3", degree="serious")]),
        fines={("responsible_person", "张三"): D(100)},
    ),
    Case(
        "seed 000 §4.3.1.6",
        "4.3.1.6",
        breached("workshop_training", department="装配车间"),
        fines={("department_head", ASM_HEAD): D(20)},
    ),
    Case(
        "seed 000 §4.3.2.1",
        "4.3.2.1",
        breached("feedback_slip", department="装配车间"),
        points={("process_group_head", PROCESS_GROUP): D(2)},
    ),
    Case(
        "seed 000 §4.3.2.2",
        "4.3.2.2",
        breached("workshop_proposal", department="装配车间"),
        points={("workshop", "装配车间"): D(2)},
    ),
    Case(
        "seed 000 §4.3.3.2.3 (罚款额=客诉赔偿额×扣罚系数)",
        "4.3.3.2",
        # a coefficient line with a 60/40 share split, technical general (illustrative table)
        responsibility(party("department", "装配车间", 60), party("department", "机加车间", 40), loss="10000"),
        fines={
            ("workshop", "装配车间"): D("180.00"),  # 10000 × 0.03 × 60 %
            ("department_head", ASM_HEAD): D("60.00"),  # 10000 × 0.01 × 60 %
            ("director", PROD_VP): D("50.00"),  # 10000 × 0.005 × 60 % + 10000 × 0.005 × 40 %
            ("workshop", "机加车间"): D("120.00"),  # 10000 × 0.03 × 40 %
            ("department_head", MACH_HEAD): D("40.00"),  # 10000 × 0.01 × 40 %
        },
        illustrative=True,
        total=D(450),
    ),
    Case(
        "seed 000 §4.3.3.2.3 (罚款额=客诉赔偿额×扣罚系数)",
        "4.3.3.2",
        # QC team and quality department: the §4.3.3.2.2 table, management-control class only
        responsibility(
            party("department", "品管部", 100, role="qc_team"), loss="10000", accident_class="management_major"
        ),
        fines={("qc_team", QC_TEAM): D("300.00"), ("quality_department_head", QA_HEAD): D("100.00")},
        illustrative=True,
    ),
    Case(
        "seed 002 篇二 §六.2 (10000元以内20%, 以上10%, 取消提成)",
        "002-2.6",
        responsibility(SALES_LI, findings=[finding("002-2.6")], loss="25000", accident_class="communication"),
        fines={("responsible_person", "李四"): D("3500.00")},  # 10,000 × 20 % + 15,000 × 10 %
        total=D(3500),
    ),
    Case(
        "seed 002 篇二 §六.2 (10000元以内20%, 以上10%, 取消提成)",
        "002-2.6",
        responsibility(SALES_LI, findings=[finding("002-2.6")], loss="8000", accident_class="communication"),
        fines={("responsible_person", "李四"): D("1600.00")},  # 8,000 × 20 %
        total=D(1600),
    ),
]


def _id(case: Case) -> str:
    event = case.event
    if isinstance(event, SlaEvent):
        return f"{case.rule}-sla.breached-{event.milestone}"
    f = event.findings[0] if event.findings else None
    detail = f"-{f.product_stage}" if f and f.product_stage != "series" else ""
    detail += f"-{f.degree}" if f and f.degree != "general" else ""
    return f"{case.rule}{detail}-loss{event.loss_amount}"


async def _assessed(case: Case, book: RuleBook) -> Assessment:
    store = MemoryStore()
    make = uows(store, FakeClock(NOW))
    if isinstance(case.event, SlaEvent):
        await deliver(make, book, message("evt-1", SLA_BREACHED, case.event))
    else:
        await determine(make, book, "evt-1", case.event)
    [assessment] = stored(store).values()
    return assessment


@pytest.mark.parametrize("case", CASES, ids=_id)
async def test_the_default_table_from_the_public_events(case: Case, book: RuleBook) -> None:
    """Every rule of DOMAIN.md §4's table, with the clause it comes from (seed 000 §5, §4.3; seed 002 篇二 §六)."""
    a = await _assessed(case, book)
    rule = book.for_factory("F01").policy.rule_tables[a.policy_version.split("#")[0]].rules[case.rule]
    assert rule.source == case.clause

    lines = [x for x in a.lines if x.rule_code == case.rule]
    assert a.status is AssessmentStatus.DRAFT
    if case.exempt:
        [line] = lines
        assert (line.kind, line.amount) == (LineKind.EXEMPT, D(0))
        assert "exempt" in line.basis and "样机、开发的新产品除外" in line.note
        return
    fines = [x for x in lines if x.kind is LineKind.FINE]
    points = [x for x in lines if x.kind is LineKind.POINTS]
    assert amounts(fines) == case.fines
    assert {(x.role, x.payee.id): x.points for x in points} == case.points
    assert all(not x.unresolved for x in lines)  # F01's directory resolves each of them
    assert all(x.illustrative is case.illustrative for x in lines)
    if case.total is not None:
        assert sum((x.amount for x in fines), D(0)) == case.total


def test_the_table_driven_test_covers_every_rule_of_the_default_table(book: RuleBook) -> None:
    """DOMAIN.md §4: the rule codes are the clause numbers; each has a case above."""
    for factory in book.factories:
        _, table = book.for_factory(factory).policy.table_at(T0)
        assert {c.rule for c in CASES} == set(table.rules)


# -- the rules' finer points ------------------------------------------------------------------


def test_the_5_2_6_amounts_are_per_occurrence(f01: FactoryRules) -> None:
    """seed 000 §5.2.6: 考核 … 100元/次, 500元/次, 200元/次, 100元/次 – two returns, twice each."""
    c = compute(f01, responsibility(ZHANG, findings=[finding("5.2.6", occurrences=2)]))
    assert sum((x.amount for x in c.lines), D(0)) == D(1800)
    assert {x.basis for x in c.lines} == {"2 time(s) × 100", "2 time(s) × 500", "2 time(s) × 200"}


def test_the_general_manager_is_charged_once_per_finding_whatever_the_departments(f01: FactoryRules) -> None:
    """seed 000 §5.2.6 考核总经理100元/次: one return, two responsible departments, the GM once."""
    c = compute(
        f01,
        responsibility(
            party("department", "装配车间", 50), party("department", "机加车间", 50), findings=[finding("5.2.6")]
        ),
    )
    assert [x.amount for x in c.lines if x.role == "general_manager"] == [D(100)]
    heads = {x.payee.id: x.amount for x in c.lines if x.role == "department_head"}
    assert heads == {ASM_HEAD: D(100), MACH_HEAD: D(100)}


def test_one_occurrence_charges_a_department_head_and_director_once(f01: FactoryRules) -> None:
    """seed 000 §5.2.6 考核责任部门主管100元/次 … 副总或总监200元/次: one return, once each, even when
    the department (60 %) and its fitter (40 %) are both responsible parties."""
    c = compute(
        f01,
        responsibility(
            party("department", "装配车间", 60),
            party("person", "张三", 40, department="装配车间"),
            findings=[finding("5.2.6")],
        ),
    )
    per_payee = amounts(c.lines, "5.2.6")
    assert per_payee[("department_head", ASM_HEAD)] == D(100)
    assert per_payee[("director", PROD_VP)] == D(200)


def test_a_finding_naming_a_party_charges_that_party_only(f01: FactoryRules) -> None:
    """seed 000 §5.2.6 责任者500元/次: the finding names the fitter; the workshop pays no second 500."""
    c = compute(
        f01,
        responsibility(
            party("department", "装配车间", 60),
            party("person", "张三", 40, department="装配车间"),
            findings=[finding("5.2.6", party="张三")],
        ),
    )
    assert amounts(c.lines) == {
        ("department_head", ASM_HEAD): D(100),
        ("responsible_person", "张三"): D(500),
        ("director", PROD_VP): D(200),
        ("general_manager", GM): D(100),
    }


def test_a_finding_naming_no_responsible_party_computes_nothing_and_says_so(f01: FactoryRules) -> None:
    c = compute(f01, responsibility(ZHANG, findings=[finding("5.2.3.2", party="王五")]))
    assert c.lines == ()
    assert c.warnings == ("5.2.3.2: party '王五' is not among the determination's internal parties",)


def test_an_unknown_code_and_a_process_penalty_in_the_findings_are_warnings_not_lines(f01: FactoryRules) -> None:
    """seed 000 §4.3.1.6 is assessed from its SLA breach only; a code outside the table is reviewed."""
    c = compute(f01, responsibility(ZHANG, findings=[finding("9.9.9"), finding("4.3.1.6")]))
    assert c.lines == ()
    assert c.warnings == (
        "9.9.9: not in rule table 2026.1; no line computed, review the finding",
        "4.3.1.6: a process penalty, assessed from its SLA breach only",
    )


def test_the_exemption_names_the_stage_and_leaves_the_other_findings_charged(f01: FactoryRules) -> None:
    """seed 000 §5.2.3.1 (样机、开发的新产品除外): the prototype's drawing error is exempt, its
    assembly error (§5.2.3.6, no exemption) is not."""
    c = compute(
        f01,
        responsibility(
            ZHANG,
            findings=[finding("5.2.3.1", product_stage="prototype"), finding("5.2.3.6", product_stage="prototype")],
        ),
    )
    exempt = [x for x in c.lines if x.kind is LineKind.EXEMPT]
    assert [(x.rule_code, x.basis) for x in exempt] == [
        ("5.2.3.1", "exempt: prototype (图纸设计问题 / drawing or design error)")
    ]
    assert amounts(c.lines, "5.2.3.6") == {("department_head", ASM_HEAD): D(10), ("responsible_person", "张三"): D(50)}


def test_the_loss_coefficient_applies_to_every_determination_with_a_loss(f01: FactoryRules) -> None:
    """seed 000 §4.3.3.2.3: 罚款额=客诉赔偿额×扣罚系数, whatever the findings; flagged illustrative."""
    c = compute(f01, responsibility(ZHANG, findings=[finding("5.2.3.2")], loss="1000"))
    coefficient = [x for x in c.lines if x.rule_code == "4.3.3.2"]
    assert [(x.role, x.amount, x.illustrative) for x in coefficient] == [
        ("workshop", D("30.00"), True),
        ("department_head", D("10.00"), True),
        ("director", D("5.00"), True),
    ]
    assert coefficient[0].basis == "1000 × 0.03 × 100 % (illustrative coefficient)"
    assert c.illustrative
    assert not compute(f01, responsibility(ZHANG, findings=[finding("5.2.3.2")])).illustrative


def test_the_loss_coefficient_named_as_a_finding_is_applied_once(f01: FactoryRules) -> None:
    c = compute(f01, responsibility(ASSEMBLY, findings=[finding("4.3.3.2")], loss="1000"))
    assert len([x for x in c.lines if x.rule_code == "4.3.3.2"]) == 3


def test_coefficient_fines_are_rounded_to_the_fen(f01: FactoryRules) -> None:
    """rounding {quantum 0.01, half_up}: 12,345.67 × 0.005 × 60 % = 37.03701 -> 37.04."""
    c = compute(
        f01,
        responsibility(party("department", "装配车间", 60), party("department", "机加车间", 40), loss="12345.67"),
    )
    [director] = [x for x in c.lines if x.role == "director" and x.department == "装配车间"]
    assert director.amount == D("37.04")


def test_the_qc_table_covers_management_control_accidents_only(f01: FactoryRules) -> None:
    """seed 000 §4.3.3.2.3 (3) 对质检组、品管部的扣罚仅限于管理控制型: technical class, no QC fine."""
    c = compute(f01, responsibility(party("role", "qc_team", 100, department="品管部"), loss="10000"))
    assert c.lines == ()
    assert c.warnings == (
        "4.3.3.2: qc_team is judged by the QC table, which covers management-control accidents only; "
        "technical_general carries no QC fine",
    )


def test_a_supplier_share_is_charged_back_outside_the_internal_ledger(f01: FactoryRules) -> None:
    """seed 001 §5.3.2 全数转嫁给供货商: the supplier's 30 % of the loss; the workshop's fines on its 70 %."""
    c = compute(
        f01, responsibility(party("department", "装配车间", 70), party("supplier", "ACME 轴承", 30), loss="10000")
    )
    [back] = [x for x in c.lines if x.kind is LineKind.CHARGE_BACK]
    assert (back.payee.kind, back.payee.id, back.amount, back.department) == (
        PayeeKind.SUPPLIER,
        "ACME 轴承",
        D("3000.00"),
        None,
    )
    assert amounts(c.lines, "4.3.3.2")[("workshop", "装配车间")] == D("210.00")  # 10000 × 0.03 × 70 %


def test_the_employee_pays_on_his_part_of_the_loss_and_loses_the_commission(f01: FactoryRules) -> None:
    """seed 002 篇二 §六.2: 40 % of 25,000 is 10,000 -> 2,000; 取消该笔业务的提成."""
    c = compute(
        f01,
        responsibility(
            party("person", "李四", 40, department="销售部"),
            party("department", "装配车间", 60),
            findings=[finding("002-2.6", party="李四")],
            loss="25000",
            accident_class="communication",
        ),
    )
    tiered = [x for x in c.lines if x.rule_code == "002-2.6"]
    assert [(x.kind, x.payee.id, x.amount) for x in tiered] == [
        (LineKind.FINE, "李四", D("2000.00")),
        (LineKind.COMMISSION_CANCELLED, "李四", D(0)),
    ]
    assert tiered[0].basis == "part of the loss 25000 × 40 % = 10000: 10000 × 20 %"
    assert "取消该笔业务的提成" in tiered[1].note


def test_the_communication_class_has_no_coefficient_row(f01: FactoryRules) -> None:
    """seed 000 §4.2.2 部门沟通误差型: the illustrative tables carry no row for it."""
    c = compute(f01, responsibility(ASSEMBLY, loss="10000", accident_class="communication"))
    assert c.lines == ()


# -- the directory: unresolved roles are never dropped ------------------------------------------


def test_a_department_missing_from_the_directory_still_gets_its_lines_addressed_to_the_roles(
    f01: FactoryRules,
) -> None:
    """organisation: what the directory cannot resolve is a line for HR, flagged, never dropped."""
    c = compute(f01, responsibility(party("department", "涂装车间", 100), findings=[finding("5.2.6")]))
    assert [(x.role, x.payee.kind, x.payee.name, x.amount, x.unresolved) for x in c.lines] == [
        ("department_head", PayeeKind.ROLE, "department_head of 涂装车间", D(100), True),
        ("responsible_person", PayeeKind.ROLE, "responsible_person of 涂装车间", D(500), True),
        ("director", PayeeKind.ROLE, "director of 涂装车间", D(200), True),
        ("general_manager", PayeeKind.PERSON, "王总 / GM Wang", D(100), False),
    ]


def test_an_empty_directory_addresses_every_line_to_its_role(book: RuleBook) -> None:
    """F02 ships no directory: 5.2.6 still yields its four lines, 900 in all, for HR to resolve."""
    c = compute(book.for_factory("F02"), responsibility(ZHANG, findings=[finding("5.2.6")], factory="F02"))
    assert [(x.role, x.payee.id, x.unresolved) for x in c.lines] == [
        ("department_head", "department_head:assembly", True),  # addressed per department for HR
        ("responsible_person", "张三", False),  # the person the determination names
        ("director", "director:assembly", True),
        ("general_manager", "general_manager", True),  # company-wide: tied to no department
    ]
    assert sum((x.amount for x in c.lines), D(0)) == D(900)


def test_the_directory_resolves_aliases_and_factory_wide_roles(f01: FactoryRules) -> None:
    org = f01.organisation
    assert engine.resolve("department_head", None, "assembly", org).id == ASM_HEAD
    assert engine.resolve("workshop", None, "machining", org).id == "机加车间"
    assert engine.resolve("process_group_head", None, None, org).id == PROCESS_GROUP
    assert engine.resolve("team", None, "机加车间", org).unresolved  # machining has no team in the file


def test_a_line_carries_the_directorys_name_of_its_department(f01: FactoryRules) -> None:
    """organisation.aliases: "assembly" -> "装配车间"; the ledger totals one department, not two."""
    c = compute(f01, responsibility(ZHANG, findings=[finding("5.2.3.2")]))
    assert {x.department for x in c.lines} == {"装配车间"}


# -- breaches ---------------------------------------------------------------------------------


def test_a_breach_of_a_milestone_without_a_rule_computes_nothing(f01: FactoryRules) -> None:
    _, table = f01.policy.table_at(T0)
    assert engine.rules_for_breach(table, "first_response") == []
    assert engine.rules_for_breach(table, "workshop_training") == ["4.3.1.6"]


def test_a_breach_without_a_department_addresses_the_workshop_role(f01: FactoryRules) -> None:
    """seed 000 §4.3.2.2 扣车间基础管理分2分/次: the responsible workshop unknown -> the role, for HR."""
    version, table = f01.policy.table_at(T0)
    b = Breach("F01-2611-0001", "F01", "workshop_proposal", 1, T0, T0)
    [line] = engine.assess_breach(b, f01.policy, f01.organisation, version=version, table=table).lines
    assert (line.kind, line.payee.kind, line.points, line.points_ledger) == (
        LineKind.POINTS,
        PayeeKind.ROLE,
        D(2),
        "management",
    )


# -- determinism ------------------------------------------------------------------------------


def _everything() -> Determination:
    return Determination(
        number="F01-2611-0001",
        factory="F01",
        determined_at=T0,
        accident_class=AccidentClass.MANAGEMENT_MAJOR,
        loss_amount=D("23456.78"),
        parties=(
            Party("department", "装配车间", D(35)),
            Party("person", "张三", D(25), department="machining"),
            Party("department", "品管部", D(20), role="qc_team"),
            Party("supplier", "ACME", D(20)),
        ),
        findings=(
            Finding("5.2.6"),
            Finding("5.2.3.7", pieces=4),
            Finding("5.2.3.1", product_stage=ProductStage.NEW_PRODUCT),
            Finding("4.3.1.3", degree=Degree.SERIOUS, party="张三"),
            Finding("002-2.6", party="张三"),
        ),
    )


def test_the_same_input_always_gives_the_same_result(f01: FactoryRules) -> None:
    """DOMAIN.md §4: the same determination, the same table -> the same lines in the same order."""
    version, table = f01.policy.table_at(T0)
    first = engine.assess_determination(_everything(), f01.policy, f01.organisation, version=version, table=table)
    again = rule_book().for_factory("F01")  # the files read anew
    v2, t2 = again.policy.table_at(T0)
    second = engine.assess_determination(_everything(), again.policy, again.organisation, version=v2, table=t2)
    assert first == second
    assert again.digest == f01.digest
    assert first.lines and first.table_version == "2026.1"


# -- a payer's amount split among roles ---------------------------------------------------------


def _policy_with(rule: dict[str, object]) -> PenaltyPolicy:
    return PenaltyPolicy.model_validate(
        {
            "monthly_cycle": {
                "summary": {"day": 15, "source": "seed 000 §4.2.2"},
                "workshop_proposal": {"day": 18, "source": "seed 000 §4.2.2"},
                "approval": {"day": 20, "source": "seed 000 §4.2.2"},
            },
            "rule_tables": {"2026.1": {"effective_from": "2000-01-01", "rules": {"X.1": rule}}},
        }
    )


def test_a_payers_amount_split_60_40_between_the_head_and_the_director(f01: FactoryRules) -> None:
    """penalty.rule_tables.*.rules.*.payers[].split: a factory's own rule dividing one amount."""
    policy = _policy_with(
        {
            "title": "shared responsibility of the management",
            "source": "factory rule",
            "kind": "per_occurrence",
            "payers": [{"role": "management", "amount": "150", "split": {"department_head": 60, "director": 40}}],
        }
    )
    version, table = policy.table_at(T0)
    d = determination(responsibility(ZHANG, findings=[finding("X.1", occurrences=2)]))
    c = engine.assess_determination(d, policy, f01.organisation, version=version, table=table)
    assert [(x.role, x.payee.id, x.amount, x.basis) for x in c.lines] == [
        ("department_head", ASM_HEAD, D("180.00"), "2 time(s) × 150 × 60 %"),
        ("director", PROD_VP, D("120.00"), "2 time(s) × 150 × 40 %"),
    ]


def test_a_determinations_shares_sum_to_100_and_its_loss_is_not_negative() -> None:
    """DOMAIN.md §3.5: percentage shares that sum to 100 %."""
    with pytest.raises(InvalidInput, match="party shares must sum to 100, got 90"):
        Determination("N", "F01", T0, AccidentClass.TECHNICAL_GENERAL, D(0), (Party("department", "QC", D(90)),))
    with pytest.raises(InvalidInput, match="the loss amount is negative"):
        Determination("N", "F01", T0, AccidentClass.TECHNICAL_GENERAL, D(-1), (Party("department", "QC", D(100)),))
