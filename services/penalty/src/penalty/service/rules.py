"""What the use cases need of the policy files: a factory's penalty policy and organisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from penalty.domain.organisation import Organisation
from penalty.domain.policy import PenaltyPolicy


@dataclass(frozen=True)
class FactoryRules:
    policy: PenaltyPolicy
    organisation: Organisation
    digest: str  # of the validated policy, recorded on every assessment


class RuleSource(Protocol):
    @property
    def factories(self) -> list[str]:
        """The factories with a policy file."""
        ...

    def for_factory(self, factory: str) -> FactoryRules:
        """Raises cqm_shared.policy.UnknownFactory for a factory without a policy file."""
        ...
