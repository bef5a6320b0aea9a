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
            R.AUDITOR,
            R.ADMIN,
        }
    ),
    "audit:read": frozenset({R.AUDITOR, R.QUALITY_MANAGER, R.ADMIN}),
    "dead_letters:manage": frozenset({R.ADMIN}),  # operations: replay or discard dead letters
}
