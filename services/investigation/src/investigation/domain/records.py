"""What a quality engineer records on a case, step by step (DOMAIN.md §3.1-§3.8). Pure values.

Each record names who recorded it and when; the case keeps them as evidence (seed 003) and
the 8D report is read from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Category(StrEnum):
    """Quality vs the non-quality kinds (seed 001)."""

    QUALITY = "quality"  # 质量
    HUMAN_FACTORS = "human_factors"  # 人为因素
    PRICE = "price"  # 价格
    SERVICE = "service"  # 服务
    MAINTENANCE = "maintenance"  # 维修保养
    LEGAL = "legal"  # 法律/纪律
    HELP = "help"  # 求助
    CONSULTATION = "consultation"  # 咨询


class Severity(StrEnum):
    """Severity (seed 000 §4.1.1): decides who is dispatched on site."""

    URGENT = "urgent"  # 紧急
    CRITICAL = "critical"  # 特重大
    MAJOR = "major"  # 重大
    MODERATE = "moderate"  # 较大
    MINOR = "minor"  # 一般


class SpecialKind(StrEnum):
    """Complaints with their own reply deadline (seed 001)."""

    PROCESS_ABNORMALITY = "process_abnormality"  # 制程异常: 4 h (§5.6.1)
    HAZARDOUS_SUBSTANCE = "hazardous_substance"  # 有毒物质超标: 48 h (§5.8)


@dataclass(frozen=True)
class Triage:
    """确认/分类 (DOMAIN.md §3.1)."""

    valid: bool  # 投诉成立
    category: Category
    severity: Severity
    our_fault: bool  # the company's product or service is at fault
    at: datetime
    by: str
    special: SpecialKind | None = None
    difficult: bool = False  # the internal feedback slip gets a week instead of 2 days (seed 004 §2.4.1)
    responsible_department: str | None = None  # who receives the feedback slip
    dispatch: tuple[str, ...] = ()  # roles sent on site (policy table by severity)
    arrive_by: datetime | None = None  # on-site arrival required by customer service
    note: str = ""

    @property
    def ends_investigation(self) -> bool:
        """Not valid, not a quality matter or not our fault: reply and close (seed 004 §4.2.1 A)."""
        return not self.valid or self.category is not Category.QUALITY or not self.our_fault


class ScopeKind(StrEnum):
    SHIPPED = "shipped"  # 已出货 -> recall decision by management
    WIP = "wip"  # 在制品 -> production stop notice
    WAREHOUSE = "warehouse"  # 库存 -> sorting / isolation


class Disposition(StrEnum):
    REWORK = "rework"  # 返工
    CONCESSION = "concession"  # 特采
    SCRAP = "scrap"  # 报废
    RETURN = "return"  # 退货
    EXCHANGE = "exchange"  # 换货
    SORTING = "sorting"  # 挑选


@dataclass(frozen=True)
class AffectedScope:
    kind: ScopeKind
    quantity: int
    note: str = ""


@dataclass(frozen=True)
class RecallDecision:
    """Whether shipped goods are recalled: management decides (seed 001)."""

    recall: bool
    decided_by: str
    note: str = ""


@dataclass(frozen=True)
class Containment:
    """围堵/应急处理 (DOMAIN.md §3.2)."""

    scope: tuple[AffectedScope, ...]
    dispositions: tuple[Disposition, ...]
    at: datetime
    by: str
    actions: str = ""  # the emergency actions taken (D3)
    recall: RecallDecision | None = None
    production_stop: bool = False  # 停产通知 for work in progress
    note: str = ""


class FishboneCategory(StrEnum):
    """人机料法测环."""

    MAN = "man"
    MACHINE = "machine"
    MATERIAL = "material"
    METHOD = "method"
    MEASUREMENT = "measurement"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class FishboneCause:
    category: FishboneCategory
    cause: str


@dataclass(frozen=True)
class RootCause:
    """原因分析 and the 8D disciplines D1, D2, D4, D7 (DOMAIN.md §3.3)."""

    occurrence_cause: str  # 发生原因
    escape_cause: str  # 流出原因
    at: datetime
    by: str
    team: tuple[str, ...] = ()  # D1
    problem: str = ""  # D2
    why_chains: tuple[tuple[str, ...], ...] = ()  # 5-why, each chain ends at a root cause
    fishbone: tuple[FishboneCause, ...] = ()
    prevention: str = ""  # D7: how the same cause is prevented elsewhere


class AccidentCause(StrEnum):
    """Accident class by cause (seed 000 §4.2.2)."""

    TECHNICAL_MAJOR = "technical_major"  # 技术性重大
    TECHNICAL_GENERAL = "technical_general"  # 技术性一般
    MANAGEMENT_MAJOR = "management_major"  # 管理型重大
    MANAGEMENT_GENERAL = "management_general"  # 管理型一般
    COMMUNICATION = "communication"  # 部门沟通误差型


class LossClass(StrEnum):
    """Accident class by loss (seed 000 品質事故處理管理規定 §5.2)."""

    EXTRAORDINARY = "extraordinary"  # 特大
    MAJOR = "major"  # 重大
    SERIOUS = "serious"  # 严重
    GENERAL = "general"  # 一般


class Crack(StrEnum):
    NONE = "none"
    SEEN_IN_FACTORY = "seen_in_factory"  # 厂内发现但品管未报
    FOUND_OUTSIDE = "found_outside"  # 厂外发现


@dataclass(frozen=True)
class QcFacts:
    """What QC knew of the defect: the inputs of the default split (DOMAIN.md §3.5)."""

    measured: bool = False
    visible_at_once: bool = False
    qc_log_record: bool = False
    crack: Crack = Crack.NONE


class PartyKind(StrEnum):
    DEPARTMENT = "department"
    PERSON = "person"
    ROLE = "role"
    SUPPLIER = "supplier"  # losses charged back (seed 001 管制程序 §5.3.2)


@dataclass(frozen=True)
class Party:
    kind: PartyKind
    name: str
    share: Decimal  # percent; the parties of a determination sum to exactly 100
    department: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class RuleFinding:
    """A cause code of the factory's penalty rule table with its counts (DOMAIN.md §4)."""

    code: str  # e.g. 5.2.3.1
    occurrences: int = 1
    pieces: int = 0
    party: str | None = None  # the party it concerns, when not all of them
    product_stage: str = "series"  # series, prototype (样机) or new_product (开发的新产品): exemptions
    degree: str = "general"  # general or serious (情节严重, e.g. 4.3.1.3)


@dataclass(frozen=True)
class Responsibility:
    """责任判定 (DOMAIN.md §3.4, §3.5): one determination; a ruling may replace it with the next."""

    sequence: int  # 1, 2, …: a newer determination supersedes an older one
    parties: tuple[Party, ...]
    cause_class: AccidentCause
    loss_amount: Decimal
    loss_class: LossClass
    qc_facts: QcFacts
    at: datetime
    by: str
    findings: tuple[RuleFinding, ...] = ()
    proposed: tuple[Party, ...] = ()  # what the split rule proposed
    split_situation: str | None = None  # which split rule matched
    override_reason: str | None = None  # why the engineer's shares differ from the proposal
    customer_may_end: bool = False  # the customer may end the relationship (major, §5.2 B b)
    reputation_severe: bool = False  # extremely bad effect on the company's reputation (§5.2 A)

    @property
    def charge_back(self) -> bool:
        return any(p.kind is PartyKind.SUPPLIER for p in self.parties)

    @property
    def departments(self) -> tuple[str, ...]:
        named = (p.department or (p.name if p.kind is PartyKind.DEPARTMENT else None) for p in self.parties)
        return tuple(dict.fromkeys(d for d in named if d))


class DisputeKind(StrEnum):
    OBJECTION = "objection"  # 对定性判断的质疑
    MARKET_CAUSE = "market_cause"  # 市场原因而非质量问题


@dataclass(frozen=True)
class Ruling:
    """Production operations' final ruling (seed 000 §4.3.3.2.3)."""

    upheld: bool  # the objection is accepted
    at: datetime
    by: str
    reason: str
    determination: int | None = None  # the new determination's sequence, when the parties changed


@dataclass(frozen=True)
class Dispute:
    kind: DisputeKind
    department: str
    reason: str
    at: datetime
    by: str
    against: int  # the determination's sequence
    ruling: Ruling | None = None


class ActionKind(StrEnum):
    TEMPORARY = "temporary"  # 临时措施
    PERMANENT = "permanent"  # 永久措施


@dataclass(frozen=True)
class LotCheck:
    lot: str
    defect_found: bool
    at: datetime
    by: str


@dataclass(frozen=True)
class Action:
    """纠正预防措施 (DOMAIN.md §3.7): owner, due date, then verified lot by lot."""

    id: str  # A1, A2, … within the case
    kind: ActionKind
    description: str
    owner: str
    due_at: datetime
    added_at: datetime
    added_by: str
    round: int = 1
    lots: tuple[LotCheck, ...] = ()
    verified_at: datetime | None = None

    def clean_run(self) -> int:
        """Consecutive lots without the defect, counted back from the latest."""
        run = 0
        for check in reversed(self.lots):
            if check.defect_found:
                break
            run += 1
        return run

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class ReplyKind(StrEnum):
    PRELIMINARY = "preliminary"  # 初步报告
    FINAL = "final"


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    content: str
    at: datetime
    by: str
    round: int = 1
    channel: str = ""


@dataclass(frozen=True)
class FollowUp:
    """回访 (seed 002 (九) 9): the customer's satisfaction and whether they accept."""

    satisfied: bool
    accepted: bool
    at: datetime
    by: str
    note: str = ""


@dataclass(frozen=True)
class Onsite:
    """On-site investigation (seed 000 §4.2.1): arrival, sheet within 24 h, report within 3 days."""

    arrived_at: datetime | None = None
    sheet_returned_at: datetime | None = None  # 《客户投诉跟踪调查表》 faxed back
    returned_at: datetime | None = None  # back at the company
    report_sent_at: datetime | None = None  # 《客诉处理情况工作报告》


@dataclass(frozen=True)
class Standardisation:
    """Effective actions standardised (seed 001 §5.9): the documents updated."""

    documents: tuple[str, ...]
    at: datetime
    by: str


@dataclass(frozen=True)
class Training:
    """Workshop training after a complaint (seed 000 §4.2.1: within 15 days)."""

    at: datetime
    by: str
    attendees: int = 0
    note: str = ""


@dataclass(frozen=True)
class Records:
    """Everything recorded on a case, beside its state and deadlines."""

    triage: Triage | None = None
    containment: Containment | None = None
    root_cause: RootCause | None = None
    responsibility: Responsibility | None = None  # the current determination
    disputes: tuple[Dispute, ...] = ()
    actions: tuple[Action, ...] = ()
    replies: tuple[Reply, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()
    onsite: Onsite = field(default_factory=Onsite)
    standardisation: Standardisation | None = None
    training: Training | None = None
