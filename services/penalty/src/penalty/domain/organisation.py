"""The factory's organisation directory (组织架构): who heads what, so rules' roles reach people.

A file now (section `organisation` of the factory's policy file), an import from HR later.
Rules name roles (department head, director/VP, GM, standard author, team); the directory
resolves them. What it cannot resolve still becomes a line item, addressed to the role and
flagged for HR (`unresolved`), never dropped.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    id: Name  # the HR / identity-provider id, as tokens carry it
    name: Name


class Department(_Strict):
    head: Person | None = None  # 部门主管 / 车间负责人
    director: Person | None = None  # 分管副总或总监 (生产、质量、销售、研究所)
    # Other roles inside the department: standard_author (检验标准制定者), team (班组), …
    roles: dict[str, Person] = Field(default_factory=dict)


class Organisation(_Strict):
    general_manager: Person | None = None  # 总经理
    roles: dict[str, Person] = Field(default_factory=dict)  # factory-wide roles, e.g. process_group_head
    departments: dict[Name, Department] = Field(default_factory=dict)
    # Aliases a determination may use for a department, e.g. "assembly" -> "装配车间".
    aliases: dict[Name, Name] = Field(default_factory=dict)

    def department(self, name: str | None) -> tuple[str | None, Department | None]:
        if name is None:
            return None, None
        canonical = self.aliases.get(name, name)
        return canonical, self.departments.get(canonical)
