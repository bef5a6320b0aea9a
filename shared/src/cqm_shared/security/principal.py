"""The authenticated caller and the roles of the suite."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cqm_shared.uow import Actor

ALL_FACTORIES = "*"  # head office


class Role(StrEnum):
    CUSTOMER_SERVICE = "customer_service"  # 客服部 / 业务部
    QUALITY_ENGINEER = "quality_engineer"  # 品质工程师 QE
    QUALITY_MANAGER = "quality_manager"  # 品质部主管
    DEPARTMENT_HEAD = "department_head"  # 责任部门主管
    PRODUCTION_OPERATIONS = "production_operations"  # 生产运营部
    HR = "hr"  # 人力部
    FINANCE = "finance"  # 财务部
    GENERAL_MANAGER = "general_manager"  # 总经理
    AUDITOR = "auditor"  # read-only
    ADMIN = "admin"
    INTEGRATION = "integration"  # another system (CRM, ERP, portal)


@dataclass(frozen=True)
class Principal:
    subject: str
    name: str
    roles: frozenset[Role]
    factories: frozenset[str]  # factory codes, or {"*"} for head office
    kind: str = "user"  # "user" (JWT) or "api_key"

    @property
    def all_factories(self) -> bool:
        return ALL_FACTORIES in self.factories

    def can_see(self, factory: str) -> bool:
        return self.all_factories or factory in self.factories

    def visible_factories(self) -> frozenset[str] | None:
        """None means every factory."""
        return None if self.all_factories else self.factories

    @property
    def actor(self) -> str:
        """How audit rows name this caller."""
        prefix = "key" if self.kind == "api_key" else "user"
        return f"{prefix}:{self.subject}"

    def as_actor(self) -> Actor:
        """The acting principal a unit of work records and checks visibility with."""
        return Actor(self.actor, self.visible_factories())


def parse_factories(raw: object) -> frozenset[str]:
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",")]
    if not isinstance(raw, list | tuple | set | frozenset):
        raise ValueError("factories must be a list or a comma-separated string")
    return frozenset(str(f).strip().upper() if f != ALL_FACTORIES else ALL_FACTORIES for f in raw if str(f).strip())


def parse_roles(raw: object) -> frozenset[Role]:
    """Known roles only; unknown role names are ignored (they grant nothing)."""
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",")]
    if not isinstance(raw, list | tuple | set | frozenset):
        raise ValueError("roles must be a list or a comma-separated string")
    known = {r.value for r in Role}
    return frozenset(Role(r) for r in raw if r in known)
