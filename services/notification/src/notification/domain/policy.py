"""Who hears what, on which channel, and when (DOMAIN.md §5 and the deadlines of §3), per
factory (section `notification`). Rules are data: the routes, the people directory, the
channels, the reminder and escalation schedule and the delivery rules come from the policy
file, validated on load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Role = Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,49}$")]
Locale = Literal["zh", "en"]

# What the delivery log holds of a recipient: names an event brings are cut to fit.
ROLE_LENGTH = 50
RECIPIENT_LENGTH = 200

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def _duration(value: Any) -> Any:
    """`4h`, `1d 12h`, `30m`, `90s` (or anything pydantic reads as a timedelta)."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found and any(found.groups()):
            d, h, m, s = (int(g or 0) for g in found.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHours(_Strict):
    """Local hours in which non-urgent e-mail and chat messages wait (in-app notices never wait)."""

    start: time
    end: time

    def covers(self, at: time) -> bool:
        if self.start <= self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end  # across midnight, e.g. 22:00-07:30


class Person(_Strict):
    """One person of the factory's directory (人员名录): a file now, an HR import later."""

    id: str = Field(min_length=1, max_length=100, description="the user id the console signs in with")
    name: str = ""
    roles: list[Role] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list, description="departments the person belongs to")
    heads: list[str] = Field(default_factory=list, description="departments the person heads (部门主管)")
    directs: list[str] = Field(default_factory=list, description="departments the person directs (分管总监)")
    locale: Locale = "zh"
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    channels: list[Literal["email"]] = Field(
        default_factory=list, description="channels besides the in-app inbox the person wants notices on"
    )
    quiet_hours: QuietHours | None = None
    digest: bool = Field(default=False, description="non-urgent e-mail gathered into one daily digest")

    @model_validator(mode="after")
    def _email_when_wanted(self) -> Self:
        if "email" in self.channels and not self.email:
            raise ValueError(f"person {self.id} wants e-mail but has no email address")
        return self


class EmailSettings(_Strict):
    """The factory's SMTP relay."""

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    sender: str = Field(default="cqm@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    timeout: float = Field(default=30.0, gt=0)
    validate_certs: bool = True


class RobotSettings(_Strict):
    """A chat group's robot (群机器人): messages to the group, never to a person."""

    kind: Literal["wecom", "dingtalk", "feishu"]
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="the robot's webhook address (it carries the robot's key)"
    )
    # The address holds the key (WeCom `key=`, DingTalk `access_token=`, Feishu's hook token):
    # a deployment that mounts policies as a ConfigMap names a variable from a Secret instead.
    url_env: str | None = Field(default=None, description="environment variable holding the webhook address")
    secret_env: str | None = Field(default=None, description="environment variable holding the signing secret")
    secret: str | None = Field(default=None, description="the signing secret itself (prefer secret_env)")
    locale: Literal["zh", "en", "both"] = "both"
    rate_per_minute: int = Field(default=20, ge=1, description="the platform's limit (about 20 a minute)")
    max_bytes: int = Field(default=4000, ge=200, description="the largest message the platform takes")
    timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_address(self) -> Self:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("a robot needs `url` or `url_env` (one of them)")
        return self


class WebhookSettings(_Strict):
    """An outgoing webhook, signed per the Standard Webhooks specification."""

    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = Field(default=None, description="environment variable holding the whsec_ secret")
    secret: str | None = Field(default=None, description="the whsec_… secret itself (prefer secret_env)")
    timeout: float = Field(default=10.0, gt=0)


class When(_Strict):
    """Conditions a route rule needs; an empty condition matches everything."""

    severity: list[str] | None = None
    level: list[int] | None = None
    flags: list[str] | None = Field(default=None, description="every flag listed must be set, e.g. batch_return")
    milestones: list[str] | None = None

    def matches(self, facts: Facts) -> bool:
        if self.severity is not None and facts.severity not in self.severity:
            return False
        if self.level is not None and facts.level not in self.level:
            return False
        if self.milestones is not None and facts.milestone not in self.milestones:
            return False
        return self.flags is None or set(self.flags) <= facts.flags


class Facts(BaseModel):
    """What a route rule may look at of an event."""

    model_config = ConfigDict(frozen=True)

    severity: str | None = None
    level: int | None = None
    milestone: str | None = None
    flags: frozenset[str] = frozenset()


# Channels a rule may name: in_app; preferred (each person's own channels); email; and a
# group's robot or an outgoing webhook by name.
ChannelName = Annotated[str, Field(pattern=r"^(in_app|preferred|email|robot:[\w-]+|webhook:[\w-]+)$")]


class RouteRule(_Strict):
    to: list[Role]
    when: When = When()
    channels: list[ChannelName] = Field(default_factory=lambda: ["in_app", "preferred"])
    urgent: bool | None = Field(default=None, description="overrides the event's own urgency")


def _rules(value: Any) -> Any:
    """The short form `[role, …]` is one rule to those roles on the default channels."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [{"to": value}]
    return value


Route = Annotated[list[RouteRule], BeforeValidator(_rules)]


class Escalation(_Strict):
    """One escalation level (逾期反应) and how long after the deadline it is reached; who hears
    of each level is the routes' business (`sla.breached` rules `when: {level: [...]}`)."""

    level: int = Field(ge=1, le=9)
    after: Duration


class MilestoneTimers(_Strict):
    reminders: list[Decimal] | None = None
    escalation: list[Escalation] | None = None
    owner: Role | None = None


class TimerPolicy(_Strict):
    """Reminders before, the breach at, and escalation after every deadline (DOMAIN.md §3)."""

    # fractions of the time between learning of a deadline and its due time
    reminders: list[Decimal] = Field(default_factory=lambda: [Decimal("0.5"), Decimal("0.8")])
    escalation: list[Escalation] = Field(default_factory=list)
    owners: dict[str, Role] = Field(default_factory=dict, description="milestone -> the role that must act")
    default_owner: Role = "quality_engineer"
    milestones: dict[str, MilestoneTimers] = Field(default_factory=dict, description="per-milestone overrides")

    @model_validator(mode="after")
    def _sane(self) -> Self:
        for fractions in [self.reminders, *(m.reminders or [] for m in self.milestones.values())]:
            if any(not Decimal(0) < f < Decimal(1) for f in fractions):
                raise ValueError("reminder fractions lie strictly between 0 and 1")
        for steps in [self.escalation, *(m.escalation or [] for m in self.milestones.values())]:
            levels = [s.level for s in steps]
            if levels != sorted(set(levels)) or [s.after for s in steps] != sorted(s.after for s in steps):
                raise ValueError("escalation levels rise one after the other, each no earlier than the one before")
        return self

    def reminders_for(self, milestone: str) -> list[Decimal]:
        own = self._own(milestone)
        return sorted(own.reminders if own and own.reminders is not None else self.reminders)

    def escalation_for(self, milestone: str) -> list[Escalation]:
        own = self._own(milestone)
        return own.escalation if own and own.escalation is not None else self.escalation

    def owner_of(self, milestone: str) -> str:
        own = self._own(milestone)
        if own and own.owner:
            return own.owner
        return self.owners.get(_kind(milestone), self.default_owner)

    def _own(self, milestone: str) -> MilestoneTimers | None:
        return self.milestones.get(milestone) or self.milestones.get(_kind(milestone))


def _kind(milestone: str) -> str:
    """`action:<id>` deadlines share the rules of `action`."""
    return milestone.split(":", 1)[0]


class DeliveryPolicy(_Strict):
    timezone: str = "Asia/Shanghai"
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_first: Duration = timedelta(seconds=30)
    backoff_cap: Duration = timedelta(hours=1)
    quiet_hours: QuietHours | None = None
    digest_at: time = time(8, 30)


class NotificationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # trigger (an event type, or a derived trigger such as complaint.batch_return) -> rules
    routes: dict[str, Route]
    # role -> recipients (person ids, "role:<name>" inboxes, department addresses)
    directory: dict[Role, list[Annotated[str, Field(min_length=1)]]]
    people: list[Person] = Field(default_factory=list)
    email: EmailSettings | None = None
    robots: dict[str, RobotSettings] = Field(default_factory=dict)
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)
    timers: TimerPolicy = TimerPolicy()
    delivery: DeliveryPolicy = DeliveryPolicy()

    @model_validator(mode="after")
    def _resolvable(self) -> Self:
        rules = [rule for route in self.routes.values() for rule in route]
        roles = {r for rule in rules for r in rule.to}
        roles |= {self.timers.default_owner, *self.timers.owners.values()}
        roles |= {m.owner for m in self.timers.milestones.values() if m.owner}
        unknown = sorted(roles - set(self.directory) - _SELF_NAMED)
        if unknown:
            raise ValueError(f"roles without a directory entry: {', '.join(unknown)}")
        for rule in rules:
            for channel in rule.channels:
                kind, _, name = channel.partition(":")
                if kind == "robot" and name not in self.robots:
                    raise ValueError(f"route names robot {name!r}, which `robots` does not define")
                if kind == "webhook" and name not in self.webhooks:
                    raise ValueError(f"route names webhook {name!r}, which `webhooks` does not define")
                if kind == "email" and self.email is None:
                    raise ValueError("a route sends e-mail, but `email` (the SMTP relay) is not set")
        if any("email" in p.channels for p in self.people) and self.email is None:
            raise ValueError("people want e-mail, but `email` (the SMTP relay) is not set")
        ids = [p.id for p in self.people]
        if len(ids) != len(set(ids)):
            raise ValueError("a person id appears twice in `people`")
        return self

    def person(self, person_id: str) -> Person | None:
        return self._people().get(person_id)

    def _people(self) -> dict[str, Person]:
        cached: dict[str, Person] | None = self.__dict__.get("_by_id")
        if cached is None:
            cached = {p.id: p for p in self.people}
            self.__dict__["_by_id"] = cached
        return cached

    def rules(self, trigger: str, facts: Facts | None = None) -> list[RouteRule]:
        facts = facts or Facts()
        return [rule for rule in self.routes.get(trigger, []) if rule.when.matches(facts)]

    def recipients(
        self,
        trigger: str,
        *,
        named: Mapping[str, str | Sequence[str]] | None = None,
        also: Iterable[str] = (),
        facts: Facts | None = None,
    ) -> list[tuple[str, str]]:
        """(role, recipient) pairs for a trigger, without repeats.

        `named`: the recipients an event names itself for a role of the route (the responsible
        department as `department:<name>`, the heads of an assessment's departments as
        `department_head:<name>`), instead of the directory's; none named: the directory's.
        `also`: roles the event adds to the route (triage's on-site team), through the
        directory; a role the directory does not know is addressed as `role:<name>`, never
        dropped.
        """
        return [(role, who) for role, who, _ in self.addressed(trigger, named=named, also=also, facts=facts)]

    def addressed(
        self,
        trigger: str,
        *,
        named: Mapping[str, str | Sequence[str]] | None = None,
        also: Iterable[str] = (),
        facts: Facts | None = None,
    ) -> list[tuple[str, str, RouteRule]]:
        """(role, recipient, the rule that chose it): the channels come from the rule."""
        named = named or {}
        seen: set[str] = set()
        out: list[tuple[str, str, RouteRule]] = []

        def add(role: str, recipients: Iterable[str], rule: RouteRule) -> None:
            for recipient in recipients:
                if recipient not in seen:
                    seen.add(recipient)
                    out.append((role, recipient, rule))

        rules = self.rules(trigger, facts)
        for rule in rules:
            for role in rule.to:
                given = named.get(role)
                chosen = [given] if isinstance(given, str) else list(given or ())
                if chosen:
                    add(role, [recipient[:RECIPIENT_LENGTH] for recipient in chosen], rule)
                else:
                    add(role, self.directory.get(role, [f"role:{role}"]), rule)
        extra = RouteRule(to=[], channels=rules[0].channels) if rules else RouteRule(to=[])
        for role in also:
            if role in self.directory:
                add(role, self.directory[role], extra)
            else:
                add(role[:ROLE_LENGTH], [f"role:{role}"[:RECIPIENT_LENGTH]], extra)
        return out


# Roles an SLA notice names itself (the milestone's owner, the department's head and director).
_SELF_NAMED = frozenset({"owner", "department_head", "director", "responsible_department"})
