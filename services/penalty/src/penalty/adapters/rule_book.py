"""The factories' penalty policies and organisation directories, from the policy files.

Validated on load (a bad file names its file and line and stops the service); `reload()`
re-reads them and swaps only when every file is valid, so a typo never replaces a working
table. Each factory's digest (of the validated policy and directory) is recorded on every
assessment with the table version, so any figure can be traced to the rules that made it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from cqm_shared.policy import PolicyBook, PolicyError, UnknownFactory
from penalty.domain.organisation import Organisation
from penalty.domain.policy import PenaltyPolicy
from penalty.service.rules import FactoryRules

log = logging.getLogger(__name__)


def _digest(policy: PenaltyPolicy, organisation: Organisation) -> str:
    text = json.dumps(
        {"penalty": policy.model_dump(mode="json"), "organisation": organisation.model_dump(mode="json")},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class RuleBook:
    def __init__(self, policy_dir: Path, check: Callable[[str, FactoryRules], str | None] | None = None) -> None:
        """`check` returns what is wrong with a factory's rules beyond their own validation
        (e.g. an approver role that no token may act as), or None."""
        self._dir = policy_dir
        self._check = check
        self._lock = threading.Lock()
        self._rules = self._load()
        self.warn_illustrative()

    def _load(self) -> dict[str, FactoryRules]:
        policies = PolicyBook(self._dir, "penalty", PenaltyPolicy)
        organisations = PolicyBook(self._dir, "organisation", Organisation)
        loaded = {}
        for factory in policies.factories:
            policy, organisation = policies.for_factory(factory), organisations.for_factory(factory)
            loaded[factory] = FactoryRules(policy, organisation, _digest(policy, organisation))
        problems = [
            f"{self._dir / (f + '.yaml')}: {p}" for f, r in loaded.items() if self._check and (p := self._check(f, r))
        ]
        if problems:
            raise PolicyError("penalty policy is inconsistent:\n" + "\n".join(problems))
        return loaded

    def reload(self) -> dict[str, FactoryRules]:
        """Re-read the files; PolicyError (and nothing swapped) when one is invalid."""
        fresh = self._load()
        with self._lock:
            self._rules = fresh
        log.info("penalty rule tables reloaded: %s", {f: r.digest for f, r in fresh.items()})
        self.warn_illustrative()
        return fresh

    @property
    def factories(self) -> list[str]:
        return sorted(self._rules)

    def for_factory(self, factory: str) -> FactoryRules:
        try:
            return self._rules[factory]
        except KeyError:
            raise UnknownFactory(factory) from None

    def warn_illustrative(self) -> None:
        for factory, rules in sorted(self._rules.items()):
            codes = rules.policy.illustrative_rules
            if codes:
                log.warning(
                    "factory %s runs penalty rule(s) %s on ILLUSTRATIVE coefficients (seed 000 §4.3.3.2.1/.2 "
                    "are not printed in the seed): set the factory's own values in its policy file",
                    factory,
                    ", ".join(codes),
                )
