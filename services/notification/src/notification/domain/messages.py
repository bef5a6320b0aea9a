"""What each event tells whom. Pure: no I/O, no text.

Every `for_*` function returns one `Notice` per recipient the factory's routes choose: its
`template` is the trigger's name (templates/<locale>/<trigger>.txt.j2 words it, in Chinese and
in English) and its `context` is what the template needs, as plain JSON-able values (str, int,
bool, None, lists and dicts of those): amounts and points are formatted strings (`"961.73"`,
`"-2"`, the currency apart), times ISO strings to the minute, names are codes. The Chinese and
English names of the codes (milestones, severities, categories, outcomes, …) are the maps below;
the renderer makes them the templates' `<kind>_name` filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from notification.domain.model import (
    AppealState,
    CaseOpened,
    CaseProgress,
    CaseTriaged,
    ComplaintSummary,
    Deadline,
    DisputeFiled,
    DisputeRuling,
    Notice,
    PenaltyItem,
    PenaltyNotice,
    PenaltyStage,
    PeriodClosed,
    ResponsibilityAssigned,
    Share,
    Step,
)
from notification.domain.policy import Facts, Locale, NotificationPolicy

# Triggers: the event types notification consumes, and triggers derived from them. A trigger
# names its route (policy `routes`) and its template.
REGISTERED = "complaint.registered"
BATCH_RETURN = "complaint.batch_return"
OPENED = "investigation.opened"
TRIAGED = "investigation.triaged"
ENDED_AT_TRIAGE = "investigation.ended_at_triage"  # not valid / not quality / not ours: reply, close
RESPONSIBILITY = "investigation.responsibility_determined"
CHARGE_BACK = "investigation.charge_back"  # a supplier's share: purchasing charges its losses back
DISPUTED = "investigation.responsibility_disputed"
RULED = "investigation.dispute_ruled"
REPLIED = "investigation.customer_replied"  # the final reply (a preliminary one tells nobody)
CLOSED = "investigation.closed"
REOPENED = "investigation.reopened"
ASSESSED = "penalty.assessed"  # draft line items: first computed, or after the GM's appeal decision
APPEALED = "penalty.appealed"
FINALIZED = "penalty.finalized"  # approved line items: HR and finance (DOMAIN.md §5)
PERIOD_CLOSED = "penalty.period_closed"
# Templates of notices no event's `for_*` builds (the deadline timers, the daily digest).
SLA_WARNING = "sla.warning"
SLA_BREACHED = "sla.breached"
DIGEST = "digest"

TRIGGERS = (
    REGISTERED,
    BATCH_RETURN,
    OPENED,
    TRIAGED,
    ENDED_AT_TRIAGE,
    RESPONSIBILITY,
    CHARGE_BACK,
    DISPUTED,
    RULED,
    REPLIED,
    CLOSED,
    REOPENED,
    ASSESSED,
    APPEALED,
    FINALIZED,
    PERIOD_CLOSED,
)
TEMPLATES = (*TRIGGERS, SLA_WARNING, SLA_BREACHED, DIGEST)

# The route roles an event may name itself: `department:<name>`, `department_head:<name>`.
RESPONSIBLE_DEPARTMENT = "responsible_department"
DEPARTMENT_HEAD = "department_head"

# Route facts: flags a rule's `when.flags` may ask for.
BATCH_RETURN_FLAG = "batch_return"
SPECIAL_FLAG = "special:"  # special:<kind>, a special complaint (制程异常, 有害物质)

# -- names, in Chinese and English ---------------------------------------------------------

Names = Mapping[Locale, Mapping[str, str]]

MILESTONE_NAMES: Names = {
    "zh": {
        "first_response": "首次响应",
        "handling_proposal": "处理方案",
        "customer_reply": "客户回复",
        "customer_reply_latest": "客户回复（最迟）",
        "preliminary_report": "初步报告",
        "close": "结案",
        "onsite_arrival": "到达现场",
        "onsite_sheet_return": "现场调查表回传",
        "onsite_work_report": "现场工作报告",
        "feedback_slip": "信息事务处理单回复",
        "process_abnormality_reply": "制程异常回复",
        "hazardous_substance_reply": "有害物质客诉回复",
        "workshop_training": "车间培训",
        # the monthly penalty cycle (seed 000 §4.2.2)
        "monthly_summary": "月度客诉汇总",
        "workshop_proposal": "车间处罚意见",
        "production_approval": "生产运营部签准",
    },
    "en": {
        "first_response": "first response",
        "handling_proposal": "handling proposal",
        "customer_reply": "customer reply",
        "customer_reply_latest": "customer reply (latest)",
        "preliminary_report": "preliminary report",
        "close": "closing",
        "onsite_arrival": "on-site arrival",
        "onsite_sheet_return": "on-site sheet returned",
        "onsite_work_report": "on-site work report",
        "feedback_slip": "feedback slip answered",
        "process_abnormality_reply": "process abnormality reply",
        "hazardous_substance_reply": "hazardous-substance reply",
        "workshop_training": "workshop training",
        "monthly_summary": "monthly summary",
        "workshop_proposal": "workshop proposal",
        "production_approval": "production operations approval",
    },
}
ACTION_MILESTONE = "action:"  # action:<id>, a corrective action's due date
ACTION_NAMES: Mapping[Locale, str] = {"zh": "纠正措施", "en": "corrective action"}

SEVERITY_NAMES: Names = {
    "zh": {"urgent": "紧急", "critical": "特重大", "major": "重大", "moderate": "较大", "minor": "一般"},
    "en": {"urgent": "urgent", "critical": "critical", "major": "major", "moderate": "moderate", "minor": "minor"},
}
CATEGORY_NAMES: Names = {
    "zh": {
        "quality": "质量问题",
        "human_factors": "人为因素",
        "price": "价格",
        "service": "服务",
        "maintenance": "维护保养",
        "legal": "法律/纪律",
        "help": "求助",
        "consultation": "咨询",
    },
    "en": {
        "quality": "quality",
        "human_factors": "human factors",
        "price": "price",
        "service": "service",
        "maintenance": "maintenance",
        "legal": "legal or discipline",
        "help": "request for help",
        "consultation": "consultation",
    },
}
SPECIAL_NAMES: Names = {
    "zh": {"process_abnormality": "制程异常", "hazardous_substance": "有害物质"},
    "en": {"process_abnormality": "process abnormality", "hazardous_substance": "hazardous substance"},
}
ACCIDENT_CLASS_NAMES: Names = {
    "zh": {
        "technical_major": "技术性重大事故",
        "technical_general": "技术性一般事故",
        "management_major": "管理性重大事故",
        "management_general": "管理性一般事故",
        "communication": "部门间沟通失误",
    },
    "en": {
        "technical_major": "major technical accident",
        "technical_general": "general technical accident",
        "management_major": "major management accident",
        "management_general": "general management accident",
        "communication": "miscommunication between departments",
    },
}
LOSS_CLASS_NAMES: Names = {
    "zh": {"extraordinary": "特大", "major": "重大", "serious": "严重", "general": "一般"},
    "en": {"extraordinary": "extraordinary", "major": "major", "serious": "serious", "general": "general"},
}
DISPUTE_KIND_NAMES: Names = {
    "zh": {"objection": "异议", "market_cause": "市场原因"},
    "en": {"objection": "objection", "market_cause": "market cause"},
}
LINE_KIND_NAMES: Names = {
    "zh": {
        "fine": "罚款",
        "points": "扣分",
        "charge_back": "供应商索赔",
        "exempt": "豁免",
        "commission_cancelled": "取消提成",
    },
    "en": {
        "fine": "fine",
        "points": "points",
        "charge_back": "charge-back",
        "exempt": "exempt",
        "commission_cancelled": "commission cancelled",
    },
}
PAYER_ROLE_NAMES: Names = {
    "zh": {
        "department_head": "部门主管",
        "responsible_person": "责任人",
        "person": "责任人",
        "director": "分管副总",
        "general_manager": "总经理",
        "standard_author": "标准编制人",
        "team": "班组",
        "workshop": "车间",
        "process_group_head": "工艺组长",
        "quality_department_head": "品管部主管",
        "qc_team": "质检组",
        "supplier": "供应商",
    },
    "en": {
        "department_head": "department head",
        "responsible_person": "responsible person",
        "person": "responsible person",
        "director": "director",
        "general_manager": "general manager",
        "standard_author": "standard author",
        "team": "team",
        "workshop": "workshop",
        "process_group_head": "process group head",
        "quality_department_head": "quality department head",
        "qc_team": "QC team",
        "supplier": "supplier",
    },
}
# Roles of the routes, the on-site team (triage's `dispatch`) and the responsibility split.
ROLE_NAMES: Names = {
    "zh": {
        "quality_engineer": "质量工程师",
        "quality_manager": "品管部主管",
        "rd_after_sales": "研发售后",
        "customer_service": "客服",
        "responsible_department": "责任部门",
        "department_head": "部门主管",
        "production_operations": "生产运营部",
        "purchasing": "采购部",
        "general_manager": "总经理",
        "hr": "人事部",
        "finance": "财务部",
        "production_vp": "生产副总",
        "process_group": "工艺组",
        "workshop_head": "车间主任",
        "line_qe": "车间质量工程师",
        "shipping_qc": "出货检验",
        "line_qc": "过程检验",
        "process_owner": "工艺责任人",
        "qc_team": "质检组",
        "quality_department": "品管部",
    },
    "en": {
        "quality_engineer": "quality engineer",
        "quality_manager": "quality manager",
        "rd_after_sales": "R&D after-sales",
        "customer_service": "customer service",
        "responsible_department": "responsible department",
        "department_head": "department head",
        "production_operations": "production operations",
        "purchasing": "purchasing",
        "general_manager": "general manager",
        "hr": "HR",
        "finance": "finance",
        "production_vp": "production VP",
        "process_group": "process group",
        "workshop_head": "workshop head",
        "line_qe": "line QE",
        "shipping_qc": "shipping QC",
        "line_qc": "line QC",
        "process_owner": "process owner",
        "qc_team": "QC team",
        "quality_department": "quality department",
    },
}
OUTCOME_NAMES: Names = {
    "zh": {
        "resolved": "已解决",
        "not_valid": "投诉不成立",
        "non_quality": "非质量问题",
        "not_our_fault": "非我司责任",
        "market_cause": "市场原因",
        "withdrawn": "客户撤诉",
    },
    "en": {
        "resolved": "resolved",
        "not_valid": "complaint not valid",
        "non_quality": "not a quality matter",
        "not_our_fault": "not our fault",
        "market_cause": "market cause",
        "withdrawn": "withdrawn",
    },
}
# Who an overdue deadline is escalated to (逾期升级), by level: 0 is the milestone's owner.
LEVEL_NAMES: Names = {
    "zh": {"0": "责任人", "1": "部门主管", "2": "分管总监", "3": "总经理"},
    "en": {"0": "owner", "1": "department head", "2": "director", "3": "general manager"},
}

# kind -> names: the templates' `<kind>_name` filters.
NAMES: Mapping[str, Names] = {
    "milestone": MILESTONE_NAMES,
    "severity": SEVERITY_NAMES,
    "category": CATEGORY_NAMES,
    "special": SPECIAL_NAMES,
    "accident_class": ACCIDENT_CLASS_NAMES,
    "loss_class": LOSS_CLASS_NAMES,
    "dispute_kind": DISPUTE_KIND_NAMES,
    "line_kind": LINE_KIND_NAMES,
    "payer_role": PAYER_ROLE_NAMES,
    "role": ROLE_NAMES,
    "outcome": OUTCOME_NAMES,
    "level": LEVEL_NAMES,
}


def name(kind: str, code: object, locale: Locale) -> str:
    """The `locale` name of a code of `kind` (see NAMES); a code without one as it is called."""
    text = str(code)
    if kind == "milestone":
        return milestone_name(text, locale)
    return NAMES[kind][locale].get(text, text)


def milestone_name(milestone: str, locale: Locale | None = None) -> str:
    """A milestone's name in `locale`; both, Chinese then English, when None. An unknown milestone
    as it is called."""
    if locale is None:
        zh, en = milestone_name(milestone, "zh"), milestone_name(milestone, "en")
        return zh if zh == en else f"{zh} {en}"
    if milestone.startswith(ACTION_MILESTONE):
        return f"{ACTION_NAMES[locale]} {milestone.removeprefix(ACTION_MILESTONE)}"
    return MILESTONE_NAMES[locale].get(milestone, milestone)


# -- context values ------------------------------------------------------------------------


def _at(at: datetime, zone: str) -> str:
    """In the factory's own time, as its people read a deadline: `2026-11-23 09:38`."""
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _amount(amount: Decimal) -> str:
    """Money to the fen: `961.73` (the currency apart)."""
    return f"{amount:.2f}"


def _points(points: Decimal) -> str:
    return f"{points.normalize():f}"


def _deadlines(deadlines: Iterable[Deadline], policy: NotificationPolicy) -> list[dict[str, str]]:
    """The pending deadlines, earliest first, in factory time: `{milestone, due_at}`."""
    pending = sorted((d for d in deadlines if d.pending), key=lambda d: (d.due_at, d.milestone))
    return [{"milestone": d.milestone, "due_at": _at(d.due_at, policy.delivery.timezone)} for d in pending]


def _notices(
    policy: NotificationPolicy,
    trigger: str,
    context: Mapping[str, Any],
    urgent: bool = False,
    *,
    named: Mapping[str, str | Sequence[str]] | None = None,
    also: Iterable[str] = (),
    facts: Facts | None = None,
) -> list[Notice]:
    """One notice per recipient of the trigger's route: the rule that chose the recipient may
    override the event's urgency. The notices share `context` (read, never changed)."""
    return [
        Notice(
            recipient_role=role,
            recipient=who,
            template=trigger,
            context=context,
            urgent=urgent if rule.urgent is None else rule.urgent,
            rule=rule,
        )
        for role, who, rule in policy.addressed(trigger, named=named, also=also, facts=facts)
    ]


def _department(name: str | None) -> dict[str, str | Sequence[str]]:
    """The responsible department an event names, instead of the directory's role."""
    return {RESPONSIBLE_DEPARTMENT: f"department:{name}"} if name else {}


# -- complaints and investigations ---------------------------------------------------------


def for_registered(complaint: ComplaintSummary, policy: NotificationPolicy) -> list[Notice]:
    """Registration -> QE and R&D after-sales; batch return -> quality head at once (DOMAIN.md §5).
    A recipient of both routes gets the batch return's notice only.

    Context: number, factory, company, product, phenomenon, batch_return."""
    context: dict[str, Any] = {
        "number": complaint.number,
        "factory": complaint.factory,
        "company": complaint.company,
        "product": complaint.product,
        "phenomenon": complaint.phenomenon,
        "batch_return": complaint.batch_return,
    }
    facts = Facts(flags=frozenset({BATCH_RETURN_FLAG} if complaint.batch_return else ()))
    notices = _notices(policy, REGISTERED, context, facts=facts)
    if complaint.batch_return:
        # one notice per recipient and event: who hears of the batch return hears that alone
        urgent = _notices(policy, BATCH_RETURN, context, urgent=True, facts=facts)
        told = {n.recipient for n in urgent}
        notices = [n for n in notices if n.recipient not in told] + urgent
    return notices


def for_opened(opened: CaseOpened, policy: NotificationPolicy) -> list[Notice]:
    """An opened case -> QE and customer service: its deadlines.

    Context: number, factory, deadlines [{milestone, due_at}]."""
    context = {"number": opened.number, "factory": opened.factory, "deadlines": _deadlines(opened.deadlines, policy)}
    return _notices(policy, OPENED, context)


def _ended_because(triaged: CaseTriaged) -> str:
    """Why triage ended the investigation, as an outcome code."""
    if not triaged.valid:
        return "not_valid"
    if triaged.category != "quality":
        return "non_quality"
    return "not_our_fault"


def for_triaged(triaged: CaseTriaged, policy: NotificationPolicy) -> list[Notice]:
    """Triage -> the responsible department and the on-site team (seed 000 §4.1.1); when it ends
    the investigation -> customer service, to reply to the customer and close (DOMAIN.md §3.1, §5).

    Context: number, factory, severity, category, special, valid, our_fault, deadlines; a triage
    that goes on also responsible_department and dispatch [role]; one that ends it, reason (an
    outcome code: not_valid, non_quality or not_our_fault)."""
    context: dict[str, Any] = {
        "number": triaged.number,
        "factory": triaged.factory,
        "severity": triaged.severity,
        "category": triaged.category,
        "special": triaged.special,
        "valid": triaged.valid,
        "our_fault": triaged.our_fault,
        "deadlines": _deadlines(triaged.deadlines, policy),
    }
    facts = Facts(
        severity=triaged.severity,
        flags=frozenset({f"{SPECIAL_FLAG}{triaged.special}"} if triaged.special else ()),
    )
    if triaged.ends_investigation:
        context["reason"] = _ended_because(triaged)
        return _notices(policy, ENDED_AT_TRIAGE, context, facts=facts)
    context["responsible_department"] = triaged.responsible_department
    context["dispatch"] = list(triaged.dispatch)
    return _notices(
        policy,
        TRIAGED,
        context,
        named=_department(triaged.responsible_department),
        also=triaged.dispatch,
        facts=facts,
    )


def _party(p: Share) -> dict[str, str | None]:
    return {"name": p.name, "share": _points(p.share), "kind": p.kind, "department": p.department, "role": p.role}


def for_responsibility(assigned: ResponsibilityAssigned, policy: NotificationPolicy) -> list[Notice]:
    """Responsibility -> the department head: the parties, their shares and until when a dispute
    may be filed (seed 000 §4.3.3.2.3); a supplier's share -> purchasing (charge-back, seed 001 §5.3.2).

    Context: number, factory, determination, supersedes, parties [{name, share (percent), kind,
    department, role}], accident_class, loss_amount, loss_class, currency, charge_back,
    dispute_until; the charge-back's parties are the suppliers."""
    context: dict[str, Any] = {
        "number": assigned.number,
        "factory": assigned.factory,
        "determination": assigned.determination,
        "supersedes": assigned.supersedes,
        "parties": [_party(p) for p in assigned.parties],
        "accident_class": assigned.accident_class,
        "loss_amount": _amount(assigned.loss_amount),
        "loss_class": assigned.loss_class,
        "currency": "CNY",
        "charge_back": assigned.charge_back,
        "dispute_until": _at(assigned.dispute_window_ends_at, policy.delivery.timezone)
        if assigned.dispute_window_ends_at
        else None,
    }
    notices = _notices(policy, RESPONSIBILITY, context)
    if assigned.charge_back:
        suppliers = [p for p in assigned.parties if p.kind == "supplier"] or list(assigned.parties)
        notices += _notices(policy, CHARGE_BACK, {**context, "parties": [_party(p) for p in suppliers]})
    return notices


def for_disputed(dispute: DisputeFiled, policy: NotificationPolicy) -> list[Notice]:
    """A dispute -> production operations, who rule finally (seed 000 §4.3.3.2.4).

    Context: number, factory, kind (objection or market_cause), department, against, reason."""
    context = {
        "number": dispute.number,
        "factory": dispute.factory,
        "kind": dispute.kind,
        "department": dispute.department,
        "against": dispute.against,
        "reason": dispute.reason,
    }
    return _notices(policy, DISPUTED, context)


def for_ruled(ruling: DisputeRuling, policy: NotificationPolicy) -> list[Notice]:
    """A ruling -> the quality engineer and the disputing department (`department:<name>` when the
    event names it, else the directory's responsible department).

    Context: number, factory, kind, upheld, determination, responsibility_cleared, department,
    reason."""
    context = {
        "number": ruling.number,
        "factory": ruling.factory,
        "kind": ruling.kind,
        "upheld": ruling.upheld,
        "determination": ruling.determination,
        "responsibility_cleared": ruling.responsibility_cleared,
        "department": ruling.department,
        "reason": ruling.reason,
    }
    return _notices(policy, RULED, context, named=_department(ruling.department))


def progress_trigger(progress: CaseProgress) -> str | None:
    """The trigger of a reply, closing or reopening; None when it tells nobody (a preliminary reply)."""
    return {Step.FINAL_REPLY: REPLIED, Step.CLOSED: CLOSED, Step.REOPENED: REOPENED}.get(progress.step)


def for_progress(progress: CaseProgress, policy: NotificationPolicy) -> list[Notice]:
    """The final reply, the closing or a reopening -> customer service and the quality engineer.

    Context: number, factory, round, outcome (of a closing), reason, deadlines."""
    trigger = progress_trigger(progress)
    if trigger is None:
        return []
    context = {
        "number": progress.number,
        "factory": progress.factory,
        "round": progress.round,
        "outcome": progress.outcome,
        "reason": progress.reason,
        "deadlines": _deadlines(progress.deadlines, policy),
    }
    return _notices(policy, trigger, context)


# -- penalty (考核) --------------------------------------------------------------------------


def _item(position: int, line: PenaltyItem) -> dict[str, Any]:
    """One line item: amounts as strings; `original_amount` only when the appeal changed it;
    `department` only when it is not the payee itself."""
    was = line.original_amount
    return {
        "position": position,
        "rule_code": line.rule_code,
        "kind": line.kind,
        "role": line.role,
        "payee_id": line.payee_id,
        "payee": line.payee,
        "department": line.department if line.department and line.department != line.payee else None,
        "amount": _amount(line.amount),
        "points": _points(line.points),
        "original_amount": _amount(was) if was is not None and was != line.amount else None,
        "unresolved": line.unresolved,
    }


def _appeal(appeal: AppealState | None, lines: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    if appeal is None:
        return None
    return {
        "by": appeal.by,
        "reason": appeal.reason,
        "lines": list(appeal.lines),
        "contested": [lines[i] for i in appeal.lines if 0 <= i < len(lines)],  # none: the whole assessment
        "decided": appeal.decided,
        "upheld": appeal.upheld,
        "decision": appeal.decision,
    }


def _penalty(penalty: PenaltyNotice, policy: NotificationPolicy) -> dict[str, Any]:
    """Context of every penalty template: number, factory, assessment_id, stage, status, period,
    currency, lines [{position, rule_code, kind, role, payee_id, payee, department, amount,
    points, original_amount, unresolved}], total, charge_backs (None when none), adjustment,
    illustrative, supersedes, appeal ({by, reason, lines, contested [line], decided, upheld,
    decision} or None), approved_by, payees, unresolved (lines HR resolves), deadlines."""
    lines = [_item(i, line) for i, line in enumerate(penalty.lines)]
    return {
        "number": penalty.number,
        "factory": penalty.factory,
        "assessment_id": penalty.assessment_id,
        "stage": penalty.stage.value,
        "status": penalty.status,
        "period": penalty.period,
        "currency": penalty.currency,
        "lines": lines,
        "total": _amount(penalty.total),
        "charge_backs": _amount(penalty.charge_backs) if penalty.charge_backs else None,
        "adjustment": penalty.adjustment,
        "illustrative": penalty.illustrative,
        "supersedes": list(penalty.supersedes),
        "appeal": _appeal(penalty.appeal, lines),
        "approved_by": penalty.approved_by,
        "payees": penalty.payees,
        "unresolved": sum(line.unresolved for line in penalty.lines),
        "deadlines": _deadlines(penalty.deadlines, policy),
    }


def _heads(penalty: PenaltyNotice) -> dict[str, str | Sequence[str]]:
    """The heads of the departments the lines name, instead of the directory's department head."""
    departments = penalty.departments
    return {DEPARTMENT_HEAD: tuple(f"department_head:{d}" for d in departments)} if departments else {}


def assessed_tells(penalty: PenaltyNotice) -> bool:
    """A `penalty.assessed` tells the departments of a draft when it is first computed or after the
    GM decided its appeal; any other draft (or an assessed event of another status) tells nobody."""
    if penalty.stage is not PenaltyStage.ASSESSED or penalty.status != "draft":
        return False
    return penalty.appeal is None or penalty.appeal.decided


def for_assessed(penalty: PenaltyNotice, policy: NotificationPolicy) -> list[Notice]:
    """Draft line items -> the heads of the departments they name: the total and, while no appeal
    was decided, that the penalised may appeal to the general manager once before approval
    (seed 002 篇二 §四.9); after the decision, the decision (final) and the approval next."""
    if not assessed_tells(penalty):
        return []
    return _notices(policy, ASSESSED, _penalty(penalty, policy), named=_heads(penalty))


def for_appealed(penalty: PenaltyNotice, policy: NotificationPolicy) -> list[Notice]:
    """An appeal (申诉) -> the general manager, who decides it (seed 002 篇二 §四.9)."""
    return _notices(policy, APPEALED, _penalty(penalty, policy))


def for_finalized(penalty: PenaltyNotice, policy: NotificationPolicy) -> list[Notice]:
    """Approved line items -> HR and finance (DOMAIN.md §5: penalty approved -> HR and finance)."""
    return _notices(policy, FINALIZED, _penalty(penalty, policy))


def for_period_closed(closed: PeriodClosed, policy: NotificationPolicy) -> list[Notice]:
    """A closed monthly ledger -> HR and finance: the totals and the cost of poor quality.

    Context: factory, period, closed_by, currency, compensation, fines, charge_backs,
    cost_of_poor_quality, performance_points, management_points, unresolved_lines, departments
    [{name, fines, performance_points, management_points, lines}]."""
    context = {
        "factory": closed.factory,
        "period": closed.period,
        "closed_by": closed.closed_by,
        "currency": "CNY",
        "compensation": _amount(closed.compensation),
        "fines": _amount(closed.fines),
        "charge_backs": _amount(closed.charge_backs),
        "cost_of_poor_quality": _amount(closed.cost_of_poor_quality),
        "performance_points": _points(closed.performance_points),
        "management_points": _points(closed.management_points),
        "unresolved_lines": closed.unresolved_lines,
        "departments": [
            {
                "name": department,
                "fines": _amount(t.fines),
                "performance_points": _points(t.performance_points),
                "management_points": _points(t.management_points),
                "lines": t.lines,
            }
            for department, t in closed.departments
        ],
    }
    return _notices(policy, PERIOD_CLOSED, context)
