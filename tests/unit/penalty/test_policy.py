"""The penalty policy: rules are data, validated on load (cqm_shared.policy.describe names the
file and the line of each error), versioned by effective date, the seed's missing coefficient
tables shipped as illustrative values and flagged as such.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cqm_shared.clock import FakeClock
from cqm_shared.policy import PolicyError, UnknownFactory
from cqm_shared.uow import MemoryStore
from penalty.adapters.rule_book import RuleBook
from penalty.domain.policy import Kind, PenaltyPolicy
from penalty.entrypoints.consumers import determination
from penalty.service import handlers
from tests.unit.penalty.fakes import NOW, finding, party, responsibility, rule_book, stored, uows

D = Decimal

# DOMAIN.md §4: the rule codes are the clause numbers, each with the clause it comes from.
DOMAIN_TABLE = {
    "5.2.3.1": (Kind.PER_OCCURRENCE, "seed 000 §5.2.3.1"),
    "5.2.3.2": (Kind.PER_OCCURRENCE, "seed 000 §5.2.3.2"),
    "5.2.3.5": (Kind.PER_OCCURRENCE, "seed 000 §5.2.3.5"),
    "5.2.3.6": (Kind.PER_OCCURRENCE, "seed 000 §5.2.3.6"),
    "5.2.3.7": (Kind.PER_PIECE, "seed 000 §5.2.3.7"),
    "5.2.4": (Kind.PER_OCCURRENCE, "seed 000 §5.2.4"),
    "5.2.6": (Kind.PER_OCCURRENCE, "seed 000 §5.2.6"),
    "5.1.2": (Kind.PER_OCCURRENCE, "seed 000 §5.1.2"),
    "4.3.1.3": (Kind.PER_OCCURRENCE, "seed 000 §4.3.1.3"),
    "4.3.1.6": (Kind.PER_OCCURRENCE, "seed 000 §4.3.1.6"),
    "4.3.2.1": (Kind.POINTS, "seed 000 §4.3.2.1"),
    "4.3.2.2": (Kind.POINTS, "seed 000 §4.3.2.2"),
    "4.3.3.2": (Kind.LOSS_COEFFICIENT, "seed 000 §4.3.3.2.3"),
    "002-2.6": (Kind.TIERED, "seed 002 篇二 §六.2"),
}


# -- the shipped policy -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return rule_book()


def test_the_shipped_table_holds_every_row_of_domain_4_with_its_clause(book: RuleBook) -> None:
    policy = book.for_factory("F01").policy
    version, table = policy.table_at(NOW)
    assert version == "2026.1"
    assert {code: (r.kind, r.source.split(" (")[0]) for code, r in table.rules.items()} == DOMAIN_TABLE
    assert (policy.approvers.approve, policy.approvers.decide_appeal) == ("production_operations", "general_manager")
    assert (policy.monthly_cycle.summary.day, policy.monthly_cycle.workshop_proposal.day) == (15, 18)
    assert policy.monthly_cycle.approval.day == 20
    assert {code: r.exempt for code, r in table.rules.items() if r.exempt} == {
        "5.2.3.1": ["prototype", "new_product"],  # 样机、开发的新产品除外
        "5.2.3.5": ["prototype", "new_product"],
    }
    assert {code: r.on_breach for code, r in table.rules.items() if r.on_breach} == {
        "4.3.1.6": "workshop_training",
        "4.3.2.1": "feedback_slip",
        "4.3.2.2": "workshop_proposal",
    }


def test_the_seeds_unprinted_coefficient_tables_are_flagged_illustrative(
    book: RuleBook, caplog: pytest.LogCaptureFixture
) -> None:
    """DOMAIN.md §4: seed 000 §4.3.3.2.1/.2 are referred to, not printed: illustrative, and said so."""
    for factory in book.factories:
        policy = book.for_factory(factory).policy
        assert policy.illustrative_rules == ["4.3.3.2"]
        _, table = policy.table_at(NOW)
        assert all(t.illustrative and "illustrative" in t.source for t in table.rules["4.3.3.2"].coefficients)
    with caplog.at_level(logging.WARNING, logger="penalty.adapters.rule_book"):
        book.warn_illustrative()
    assert [r.getMessage().split(" runs")[0] for r in caplog.records] == ["factory F01", "factory F02"]
    assert all("ILLUSTRATIVE" in r.getMessage() and "4.3.3.2" in r.getMessage() for r in caplog.records)


def test_a_factory_without_a_file_is_unknown(book: RuleBook) -> None:
    assert book.factories == ["F01", "F02"]
    with pytest.raises(UnknownFactory):
        book.for_factory("F09")


def test_the_digest_changes_with_the_rules_and_nothing_else(book: RuleBook) -> None:
    """Every assessment records table version + digest: any figure traces to the rules that made it."""
    assert rule_book().for_factory("F01").digest == book.for_factory("F01").digest
    assert book.for_factory("F01").digest != book.for_factory("F02").digest  # F02 has no directory


# -- policy files in a temporary folder ------------------------------------------------------

DEFAULT = """\
version: 1
penalty:
  timezone: Asia/Shanghai
  monthly_cycle:
    summary:           {day: 15, source: "seed 000 §4.2.2"}
    workshop_proposal: {day: 18, source: "seed 000 §4.2.2"}
    approval:          {day: 20, source: "seed 000 §4.2.2"}
  rule_tables:
    "2026.1":
      effective_from: 2000-01-01
      rules:
        "5.2.6":
          title: "return or exchange"
          source: "seed 000 §5.2.6"
          kind: per_occurrence
          payers:
            - {role: department_head, amount: 100}
            - {role: responsible_person, amount: 500}
organisation: {}
"""

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Writes default.yaml and F01.yaml into a fresh policy folder."""

    def _write(default: str = DEFAULT, f01: str = "name: F01\n") -> Path:
        (tmp_path / "default.yaml").write_text(default, encoding="utf-8")
        (tmp_path / "F01.yaml").write_text(f01, encoding="utf-8")
        return tmp_path

    return _write


def _line(text: str, marker: str) -> int:
    """The 1-based line of the first line containing `marker`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


def _refused(folder: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        RuleBook(folder)
    return str(caught.value)


def _payers(*lines: str) -> str:
    """DEFAULT with 5.2.6's payers replaced by `lines` (YAML list items)."""
    head, _, tail = DEFAULT.partition("          payers:\n")
    rest = tail.split("organisation:")[1]
    return head + "          payers:\n" + "".join(f"            {x}\n" for x in lines) + "organisation:" + rest


def test_the_minimal_policy_loads(write: Write) -> None:
    rules = RuleBook(write()).for_factory("F01")
    assert rules.policy.rounding(D("1.005")) == D("1.01")  # half up to the fen by default
    assert rules.policy.illustrative_rules == []


def test_an_unknown_key_names_its_file_and_line(write: Write) -> None:
    text = _payers("- {role: department_head, amount: 100}", "- {role: general_manager, amout: 100}")
    folder = write(text)
    message = _refused(folder)
    assert f"{folder / 'default.yaml'}:{_line(text, 'amout')}: " in message
    assert "penalty.rule_tables.2026.1.rules.5.2.6.payers.1.amout: Extra inputs are not permitted" in message
    assert message.startswith(f"{folder / 'F01.yaml'} section 'penalty' is invalid")


def test_a_negative_amount_names_its_file_and_line(write: Write) -> None:
    text = _payers("- role: director", "  amount: -200")
    folder = write(text)
    message = _refused(folder)
    assert f"{folder / 'default.yaml'}:{_line(text, 'amount: -200')}: " in message
    assert "payers.0.amount: Input should be greater than or equal to 0" in message


def test_a_split_not_summing_to_100_names_its_file_and_line(write: Write) -> None:
    """The payer's amount divided among roles: 60 % + 30 % is not the whole amount."""
    text = _payers("- role: department_head", "  amount: 100", "  split: {department_head: 60, director: 30}")
    folder = write(text)
    message = _refused(folder)
    # the payer's line (its validator sees the whole payer), or the split's own line
    lines = {_line(text, "- role: department_head"), _line(text, "split:")}
    assert re.search(rf"default\.yaml:({'|'.join(map(str, lines))}): ", message), message
    assert "split of department_head must sum to 100 %, got 90" in message


def test_an_error_in_a_factorys_override_names_the_factorys_file(write: Write) -> None:
    f01 = textwrap.dedent(
        """\
        name: F01
        penalty:
          rule_tables:
            "2026.1":
              rules:
                "5.2.6":
                  payers:
                    - {role: department_head, amount: 100}
                    - {role: responsible_person, amount: "five hundred"}
        """
    )
    folder = write(f01=f01)
    message = _refused(folder)
    assert f"{folder / 'F01.yaml'}:{_line(f01, 'five hundred')}: " in message


def test_an_error_in_the_organisation_directory_names_its_file_and_line(write: Write) -> None:
    f01 = textwrap.dedent(
        """\
        name: F01
        organisation:
          departments:
            "装配车间":
              haed: {id: u-asm-head, name: "张主任"}
        """
    )
    folder = write(f01=f01)
    message = _refused(folder)
    assert f"{folder / 'F01.yaml'}:{_line(f01, 'haed')}: organisation.departments.装配车间.haed: " in message


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("timezone: Asia/Shanghai", "timezone: Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (("kind: per_occurrence", "kind: per_minute"), "Input should be 'per_occurrence'"),
        (("{role: department_head, amount: 100}", "{role: department_head}"), "needs payers with an amount"),
        (("kind: per_occurrence", "kind: points"), "a points rule needs a ledger and payers with points"),
        (("approval:          {day: 20", "approval:          {day: 16"), "run summary <= workshop_proposal"),
        (("summary:           {day: 15", "summary:           {day: 31"), "less than or equal to 28"),
    ],
    ids=["time zone", "kind", "amount missing", "points without ledger", "cycle out of order", "day 31"],
)
def test_invalid_rules_are_refused_with_their_line(write: Write, change: tuple[str, str], error: str) -> None:
    text = DEFAULT.replace(*change)
    folder = write(text)
    message = _refused(folder)
    assert error in message
    assert re.search(r"default\.yaml:\d+: penalty\.", message), message


TIERED = """\
        "002-2.6":
          title: "employee compensation"
          source: "seed 002 篇二 §六.2"
          kind: tiered
          brackets: BRACKETS
          payers: [{role: responsible_person}]
"""


@pytest.mark.parametrize(
    "brackets",
    [
        "[{up_to: 10000, rate: '0.20'}, {up_to: 20000, rate: '0.10'}]",  # the last has an upper bound
        "[{up_to: 10000, rate: '0.20'}, {up_to: 5000, rate: '0.15'}, {rate: '0.10'}]",  # not ascending
        "[{up_to: 10000, rate: '1.20'}, {rate: '0.10'}]",  # a rate above 100 %
    ],
)
def test_tiered_brackets_run_from_the_lowest_bound_to_an_open_last_one(write: Write, brackets: str) -> None:
    text = DEFAULT.replace("organisation: {}", TIERED.replace("BRACKETS", brackets) + "organisation: {}")
    assert "002-2.6" in _refused(write(text))


def test_two_versions_cannot_take_effect_on_the_same_day(write: Write) -> None:
    second = '    "2026.2":\n      effective_from: 2000-01-01\n      rules: {}\n'
    text = DEFAULT.replace("organisation: {}", second + "organisation: {}")
    assert "two rule table versions take effect on the same date" in _refused(write(text))


def test_coefficients_belong_to_loss_coefficient_rules(write: Write) -> None:
    extra = (
        "          automatic: true\n"
        "          coefficients: [{source: x, applies_to: workshop_and_managers, classes: {}}]\n"
    )
    text = DEFAULT.replace("          kind: per_occurrence\n", "          kind: per_occurrence\n" + extra)
    assert "coefficients and automatic belong to loss_coefficient rules" in _refused(write(text))


def test_a_reload_with_a_broken_file_keeps_the_working_table(write: Write) -> None:
    folder = write()
    rules = RuleBook(folder)
    before = rules.for_factory("F01").digest
    write(_payers("- {role: department_head, amount: -1}"))
    with pytest.raises(PolicyError):
        rules.reload()
    assert rules.for_factory("F01").digest == before
    write(_payers("- {role: department_head, amount: 150}"))
    assert rules.reload()["F01"].digest != before


# -- versions ---------------------------------------------------------------------------------

VERSIONED = DEFAULT.replace(
    "organisation: {}",
    """\
    "2027.1":
      effective_from: 2027-01-01
      source: "a revised regulation"
      rules:
        "5.2.6":
          title: "return or exchange"
          source: "seed 000 §5.2.6 (revised)"
          kind: per_occurrence
          payers: [{role: department_head, amount: 150}]
organisation: {}
""",
)


@pytest.mark.parametrize(
    ("moment", "version"),
    [
        (datetime(2026, 12, 31, 15, 59, tzinfo=UTC), "2026.1"),  # 23:59 on 31 December in Shanghai
        (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), "2027.1"),  # midnight: 1 January at the factory
        (datetime(2030, 6, 1, tzinfo=UTC), "2027.1"),
    ],
)
def test_the_version_in_force_is_chosen_by_the_factorys_local_date(
    write: Write, moment: datetime, version: str
) -> None:
    policy = RuleBook(write(VERSIONED)).for_factory("F01").policy
    assert policy.table_at(moment)[0] == version


def test_no_version_in_force_before_the_first_takes_effect() -> None:
    policy = PenaltyPolicy.model_validate(
        {
            "monthly_cycle": {
                "summary": {"day": 15, "source": "s"},
                "workshop_proposal": {"day": 18, "source": "w"},
                "approval": {"day": 20, "source": "a"},
            },
            "rule_tables": {"2027.1": {"effective_from": "2027-01-01", "rules": {}}},
        }
    )
    with pytest.raises(LookupError, match="no rule table in force on 2026-11-21"):
        policy.table_at(NOW)


async def test_an_assessment_uses_and_records_the_version_in_force_when_responsibility_was_determined(
    write: Write,
) -> None:
    """Add a version rather than edit a used one: November's case keeps 2026.1, January's gets 2027.1."""
    rules = RuleBook(write(VERSIONED))
    store = MemoryStore()
    make = uows(store, FakeClock(datetime(2027, 1, 5, tzinfo=UTC)))
    zhang = party("person", "张三", 100, department="装配车间")
    for event_id, at in (("evt-nov", NOW), ("evt-jan", datetime(2027, 1, 4, 2, tzinfo=UTC))):
        d = determination(responsibility(zhang, findings=[finding("5.2.6")], number=f"N-{event_id}", at=at))
        await handlers.assess_determination(make(), rules, event_id, d, why="test")

    digest = rules.for_factory("F01").digest
    nov, jan = stored(store)["evt-nov"], stored(store)["evt-jan"]
    assert (nov.policy_version, nov.total) == (f"2026.1#{digest}", D(600))
    assert (jan.policy_version, jan.total) == (f"2027.1#{digest}", D(150))
