"""Who hears what (DOMAIN.md §5), per factory (section `notification`)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,49}$")]


class NotificationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # trigger (an event type, or a derived trigger such as complaint.batch_return) -> roles
    routes: dict[str, list[Role]]
    # role -> recipients (user ids, "role:<name>" inboxes or addresses)
    directory: dict[Role, list[Annotated[str, Field(min_length=1)]]]

    @model_validator(mode="after")
    def _roles_resolvable(self) -> Self:
        unknown = sorted({r for roles in self.routes.values() for r in roles} - set(self.directory))
        if unknown:
            raise ValueError(f"roles without a directory entry: {', '.join(unknown)}")
        return self

    def recipients(self, trigger: str) -> list[tuple[str, str]]:
        """(role, recipient) pairs for a trigger, without repeats."""
        seen: set[str] = set()
        out = []
        for role in self.routes.get(trigger, []):
            for recipient in self.directory[role]:
                if recipient not in seen:
                    seen.add(recipient)
                    out.append((role, recipient))
        return out
