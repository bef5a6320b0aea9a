"""Who may do what in investigation (the one place it is decided; docs/permissions.md shows it)."""

from cqm_shared.security.principal import Role as R

MATRIX = {
    "investigations:read": frozenset(
        {
            R.CUSTOMER_SERVICE,
            R.QUALITY_ENGINEER,
            R.QUALITY_MANAGER,
            R.DEPARTMENT_HEAD,
            R.PRODUCTION_OPERATIONS,
            R.GENERAL_MANAGER,  # 总经理: reads, decides penalty appeals
            R.AUDITOR,
            R.ADMIN,
        }
    ),
    # The quality engineer works the case: triage, containment, root cause, responsibility, CAPA, close.
    "investigations:work": frozenset({R.QUALITY_ENGINEER, R.QUALITY_MANAGER}),
    # The responsible department objects or claims a market cause (seed 000 §4.3.3.2.3).
    "investigations:dispute": frozenset({R.DEPARTMENT_HEAD}),
    # Production operations rules finally on a dispute (seed 000 §4.3.3.2.4).
    "investigations:rule": frozenset({R.PRODUCTION_OPERATIONS}),
    # Customer service answers the customer and follows up (回复/回访); QE may too.
    "investigations:reply": frozenset({R.CUSTOMER_SERVICE, R.QUALITY_ENGINEER, R.QUALITY_MANAGER}),
    # Statistics of the quality meetings and the management review (DOMAIN.md §6).
    "stats:read": frozenset(
        {R.QUALITY_ENGINEER, R.QUALITY_MANAGER, R.PRODUCTION_OPERATIONS, R.GENERAL_MANAGER, R.AUDITOR, R.ADMIN}
    ),
    "audit:read": frozenset({R.AUDITOR, R.QUALITY_MANAGER, R.ADMIN}),
    "dead_letters:manage": frozenset({R.ADMIN}),  # operations: replay or discard dead letters
}
