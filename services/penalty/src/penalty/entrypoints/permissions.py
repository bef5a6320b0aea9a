"""Who may do what in penalty (the one place it is decided; docs/permissions.md shows it)."""

from cqm_shared.security.principal import Role as R

MATRIX = {
    "assessments:read": frozenset(
        {R.QUALITY_MANAGER, R.DEPARTMENT_HEAD, R.PRODUCTION_OPERATIONS, R.HR, R.FINANCE, R.AUDITOR, R.ADMIN}
    ),
    "audit:read": frozenset({R.AUDITOR, R.QUALITY_MANAGER, R.HR, R.ADMIN}),
    "dead_letters:manage": frozenset({R.ADMIN}),  # operations: replay or discard dead letters
}
