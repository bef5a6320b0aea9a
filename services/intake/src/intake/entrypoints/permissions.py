"""Who may do what in intake (the one place it is decided; docs/permissions.md shows it)."""

from cqm_shared.security.principal import Role as R

READERS = frozenset(
    {
        R.CUSTOMER_SERVICE,
        R.QUALITY_ENGINEER,
        R.QUALITY_MANAGER,
        R.DEPARTMENT_HEAD,
        R.PRODUCTION_OPERATIONS,
        R.GENERAL_MANAGER,  # 总经理: reads, decides penalty appeals
        R.AUDITOR,
        R.ADMIN,
        R.INTEGRATION,
    }
)  # HR and finance see penalties, not customers' contact data

WRITERS = frozenset({R.CUSTOMER_SERVICE, R.QUALITY_ENGINEER, R.QUALITY_MANAGER, R.ADMIN})

MATRIX = {
    "complaints:create": WRITERS | {R.INTEGRATION},
    "complaints:amend": WRITERS | {R.INTEGRATION},
    "complaints:withdraw": WRITERS,
    "complaints:attach": WRITERS | {R.INTEGRATION},
    "complaints:read": READERS,
    "stats:read": READERS | {R.HR, R.FINANCE},
    "audit:read": frozenset({R.AUDITOR, R.QUALITY_MANAGER, R.ADMIN}),
    "dead_letters:manage": frozenset({R.ADMIN}),  # operations: replay or discard dead letters
}
