"""Who may do what in notification (the one place it is decided; docs/permissions.md shows it)."""

from cqm_shared.security.principal import Role as R

MATRIX = {
    "notifications:read": frozenset(
        {
            R.CUSTOMER_SERVICE,
            R.QUALITY_ENGINEER,
            R.QUALITY_MANAGER,
            R.DEPARTMENT_HEAD,
            R.PRODUCTION_OPERATIONS,
            R.HR,
            R.FINANCE,
            R.GENERAL_MANAGER,  # 总经理: told of appeals to decide
            R.AUDITOR,
            R.ADMIN,
        }
    ),
    # Everyone who signs in has an inbox: notices to them, their roles and their departments.
    "inbox:read": frozenset(
        {
            R.CUSTOMER_SERVICE,
            R.QUALITY_ENGINEER,
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
    "audit:read": frozenset({R.AUDITOR, R.QUALITY_MANAGER, R.ADMIN}),
    "dead_letters:manage": frozenset({R.ADMIN}),  # operations: replay or discard dead letters
}
