"""Who may do what in penalty (the one place it is decided; docs/permissions.md shows it).

The factory's policy (`penalty.approvers`) names the role that approves and the one that decides
appeals; the use cases check it too, so a role this matrix admits but the policy does not name
is refused with 403.
"""

from cqm_shared.security.principal import Role as R
from penalty.service.rules import FactoryRules

MATRIX = {
    "assessments:read": frozenset(
        {
            R.QUALITY_MANAGER,
            R.DEPARTMENT_HEAD,
            R.PRODUCTION_OPERATIONS,
            R.HR,
            R.FINANCE,
            R.GENERAL_MANAGER,
            R.AUDITOR,
            R.ADMIN,
        }
    ),
    # 申诉: the penalised department (through its head) or quality, to the GM
    "assessments:appeal": frozenset({R.DEPARTMENT_HEAD, R.QUALITY_MANAGER, R.ADMIN}),
    # the GM decides the appeal (seed 002 篇二 §四.9)
    # Who may ever take these decisions; the factory's policy (`approvers`) names the one role
    # that does: 生产运营部部长签准 (seed 000 §4.2.2), 向总经理申诉 (seed 002 篇二 §四.9).
    "assessments:decide": frozenset({R.GENERAL_MANAGER, R.PRODUCTION_OPERATIONS, R.ADMIN}),
    "assessments:approve": frozenset({R.PRODUCTION_OPERATIONS, R.GENERAL_MANAGER, R.QUALITY_MANAGER, R.ADMIN}),
    "ledger:read": frozenset(
        {R.QUALITY_MANAGER, R.PRODUCTION_OPERATIONS, R.HR, R.FINANCE, R.GENERAL_MANAGER, R.AUDITOR, R.ADMIN}
    ),
    "ledger:close": frozenset({R.PRODUCTION_OPERATIONS, R.HR, R.ADMIN}),
    # 质量成本 (DOMAIN.md §6): the ledger's money summed over months and departments, so whoever
    # reads the ledger, and no one else (not QE, not department heads: they see no penalty sums).
    "costs:read": frozenset(
        {R.QUALITY_MANAGER, R.PRODUCTION_OPERATIONS, R.HR, R.FINANCE, R.GENERAL_MANAGER, R.AUDITOR, R.ADMIN}
    ),
    "rules:read": frozenset({R.QUALITY_MANAGER, R.PRODUCTION_OPERATIONS, R.HR, R.GENERAL_MANAGER, R.AUDITOR, R.ADMIN}),
    "rules:reload": frozenset({R.ADMIN}),
    "audit:read": frozenset({R.AUDITOR, R.QUALITY_MANAGER, R.HR, R.ADMIN}),
    "dead_letters:manage": frozenset({R.ADMIN}),  # operations: replay or discard dead letters
}


def approvers_can_act(factory: str, rules: FactoryRules) -> str | None:
    """The roles a factory's policy names for approval and appeal decisions must hold the
    permission of the route; otherwise only an admin could ever decide (found at load, not later)."""
    approvers = rules.policy.approvers
    wrong = [
        f"approvers.{which} = {role!r} lacks {permission}"
        for which, role, permission in (
            ("approve", approvers.approve, "assessments:approve"),
            ("decide_appeal", approvers.decide_appeal, "assessments:decide"),
        )
        if role not in {r.value for r in MATRIX[permission]}
    ]
    return "; ".join(wrong) or None
