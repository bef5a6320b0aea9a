"""Who hears what (DOMAIN.md §5), per factory (section `notification`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,49}$")]

# What the delivery log holds of a recipient: names an event brings are cut to fit.
ROLE_LENGTH = 50
RECIPIENT_LENGTH = 200


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

    def recipients(
        self,
        trigger: str,
        *,
        named: Mapping[str, str | Sequence[str]] | None = None,
        also: Iterable[str] = (),
    ) -> list[tuple[str, str]]:
        """(role, recipient) pairs for a trigger, without repeats.

        `named`: the recipients an event names itself for a role of the route (the responsible
        department as `department:<name>`, the heads of an assessment's departments as
        `department_head:<name>`), instead of the directory's; none named: the directory's.
        `also`: roles the event adds to the route (triage's on-site team), through the
        directory; a role the directory does not know is addressed as `role:<name>`, never
        dropped.
        """
        named = named or {}
        seen: set[str] = set()
        out = []

        def add(role: str, recipients: Iterable[str]) -> None:
            for recipient in recipients:
                if recipient not in seen:
                    seen.add(recipient)
                    out.append((role, recipient))

        for role in self.routes.get(trigger, []):
            given = named.get(role)
            chosen = [given] if isinstance(given, str) else list(given or ())
            if chosen:
                add(role, [recipient[:RECIPIENT_LENGTH] for recipient in chosen])
            else:
                add(role, self.directory[role])
        for role in also:
            if role in self.directory:
                add(role, self.directory[role])
            else:
                add(role[:ROLE_LENGTH], [f"role:{role}"[:RECIPIENT_LENGTH]])
        return out
