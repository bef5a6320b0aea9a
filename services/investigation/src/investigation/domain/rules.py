"""Rules the policy parameterises: the default responsibility split and the accident class by loss.

Both read the factory's policy tables (rules are data); this module only says how a row is
matched, so a quality engineer can check it against DOMAIN.md §3.4-§3.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from investigation.domain.policy import InvestigationPolicy, QcCondition, SplitRule
from investigation.domain.records import LossClass, Party, PartyKind, QcFacts


@dataclass(frozen=True)
class SplitProposal:
    situation: str
    source: str
    parties: tuple[Party, ...]  # empty: the rule says "decided by discussion"

    @property
    def manual(self) -> bool:
        return not self.parties


def _matches(when: QcCondition, facts: QcFacts) -> bool:
    checks = (
        (when.measured, facts.measured),
        (when.visible_at_once, facts.visible_at_once),
        (when.qc_log_record, facts.qc_log_record),
        (when.crack, facts.crack.value),
    )
    return all(expected is None or expected == actual for expected, actual in checks)


def propose_split(facts: QcFacts, policy: InvestigationPolicy) -> SplitProposal | None:
    """The first split rule whose situation matches the QC facts (table order), or None."""
    rule: SplitRule | None = next((r for r in policy.split_rules if _matches(r.when, facts)), None)
    if rule is None:
        return None
    parties = tuple(
        Party(kind=PartyKind.ROLE, name=role, role=role, share=share) for role, share in rule.shares.items()
    )
    return SplitProposal(situation=rule.situation, source=rule.source, parties=parties)


def loss_class(
    loss: Decimal, policy: InvestigationPolicy, *, customer_may_end: bool = False, reputation_severe: bool = False
) -> LossClass:
    """The highest class whose threshold the loss reaches or whose condition holds (seed 000 §5.2)."""
    flags = {"customer_may_end": customer_may_end, "reputation_severe": reputation_severe, "image_serious": False}
    for rule in policy.loss_classes:
        if loss >= rule.min_loss or any(flags[f] for f in rule.or_when):
            return LossClass(rule.name)
    return LossClass.GENERAL


def same_shares(a: tuple[Party, ...], b: tuple[Party, ...]) -> bool:
    """Whether two sets of parties split the responsibility identically (order aside)."""

    def key(parties: tuple[Party, ...]) -> list[tuple[str, str, str, Decimal]]:
        return sorted((p.kind.value, p.name, p.role or "", p.share.normalize()) for p in parties)

    return key(a) == key(b)
