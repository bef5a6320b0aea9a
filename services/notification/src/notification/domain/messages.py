"""The notices sent for each event, in Chinese and English. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from notification.domain.model import (
    CaseOpened,
    CaseProgress,
    CaseTriaged,
    ComplaintSummary,
    Deadline,
    DisputeFiled,
    DisputeRuling,
    Notice,
    ResponsibilityAssigned,
    Share,
    Step,
)
from notification.domain.policy import NotificationPolicy

# Triggers: the event types notification consumes, and triggers derived from them.
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

# The route role an event may name itself, as `department:<name>`.
RESPONSIBLE_DEPARTMENT = "responsible_department"

MILESTONE_NAMES = {
    "first_response": "首次响应 first response",
    "handling_proposal": "处理方案 handling proposal",
    "customer_reply": "客户回复 customer reply",
    "customer_reply_latest": "客户回复最迟 customer reply (latest)",
    "preliminary_report": "初步报告 preliminary report",
    "close": "结案 close",
    "onsite_arrival": "到达现场 on-site arrival",
    "onsite_sheet_return": "现场调查表回传 on-site sheet returned",
    "onsite_work_report": "现场工作报告 on-site work report",
    "feedback_slip": "信息事务处理单回复 feedback slip answered",
    "process_abnormality_reply": "制程异常回复 process abnormality reply",
    "hazardous_substance_reply": "有害物质客诉回复 hazardous-substance reply",
    "workshop_training": "车间培训 workshop training",
}
ACTION_MILESTONE = "action:"  # action:<id>, a corrective action's due date

SEVERITY_NAMES = {"urgent": "紧急", "critical": "特重大", "major": "重大", "moderate": "较大", "minor": "一般"}
CATEGORY_NAMES = {
    "quality": "质量问题",
    "human_factors": "人为因素",
    "price": "价格",
    "service": "服务",
    "maintenance": "维护保养",
    "legal": "法律/纪律",
    "help": "求助",
    "consultation": "咨询",
}
SPECIAL_NAMES = {
    "process_abnormality": "制程异常 process abnormality",
    "hazardous_substance": "有害物质 hazardous substance",
}
ACCIDENT_CLASS_NAMES = {
    "technical_major": "技术性重大事故",
    "technical_general": "技术性一般事故",
    "management_major": "管理性重大事故",
    "management_general": "管理性一般事故",
    "communication": "部门间沟通失误",
}
LOSS_CLASS_NAMES = {"extraordinary": "特大", "major": "重大", "serious": "严重", "general": "一般"}
DISPUTE_KIND_NAMES = {"objection": "异议", "market_cause": "市场原因"}
OUTCOME_NAMES = {
    "resolved": "已解决 resolved",
    "not_valid": "投诉不成立 not valid",
    "non_quality": "非质量问题 not a quality matter",
    "not_our_fault": "非我司责任 not our fault",
    "market_cause": "市场原因 market cause",
    "withdrawn": "已撤回 withdrawn",
}


def milestone_name(milestone: str) -> str:
    """A milestone's Chinese and English name; an unknown one as it is called."""
    if milestone.startswith(ACTION_MILESTONE):
        action = milestone.removeprefix(ACTION_MILESTONE)
        return f"纠正措施 {action} corrective action {action}"
    return MILESTONE_NAMES.get(milestone, milestone)


def _named(names: Mapping[str, str], value: str) -> str:
    """`中文 value`, or the value alone when it has no Chinese name."""
    return f"{names[value]} {value}" if value in names else value


def _at(at: datetime) -> str:
    return at.isoformat(timespec="minutes")


def _percent(share: Decimal) -> str:
    return f"{share.normalize():f}%"


def _deadline_lines(deadlines: Iterable[Deadline]) -> list[str]:
    """The pending deadlines, earliest first."""
    pending = sorted((d for d in deadlines if d.pending), key=lambda d: (d.due_at, d.milestone))
    return [f"{milestone_name(d.milestone)}: {_at(d.due_at)}" for d in pending]


def _with_deadlines(lines: list[str], deadlines: Iterable[Deadline]) -> str:
    due = _deadline_lines(deadlines)
    return "\n".join(lines + (["期限 Deadlines:", *due] if due else []))


def _fan_out(
    policy: NotificationPolicy,
    trigger: str,
    subject: str,
    body: str,
    urgent: bool = False,
    *,
    named: Mapping[str, str] | None = None,
    also: Iterable[str] = (),
) -> list[Notice]:
    recipients = policy.recipients(trigger, named=named, also=also)
    return [Notice(role, who, subject, body, urgent) for role, who in recipients]


def _department(name: str | None) -> dict[str, str]:
    """The responsible department an event names, instead of the directory's role."""
    return {RESPONSIBLE_DEPARTMENT: f"department:{name}"} if name else {}


def for_registered(complaint: ComplaintSummary, policy: NotificationPolicy) -> list[Notice]:
    """Registration -> QE and R&D after-sales; batch return -> quality head at once (DOMAIN.md §5)."""
    body = (
        f"客户 {complaint.company} 投诉 {complaint.product}: {complaint.phenomenon}\n"
        f"Customer {complaint.company} complains about {complaint.product}: {complaint.phenomenon}"
    )
    notices = _fan_out(
        policy,
        REGISTERED,
        f"新客诉 {complaint.number} / New complaint {complaint.number}",
        body,
    )
    if complaint.batch_return:
        notices += _fan_out(
            policy,
            BATCH_RETURN,
            f"【紧急】批量退货 {complaint.number} / [URGENT] Batch return {complaint.number}",
            body,
            urgent=True,
        )
    return notices


def for_opened(opened: CaseOpened, policy: NotificationPolicy) -> list[Notice]:
    lines = [f"{milestone_name(d.milestone)}: {_at(d.due_at)}" for d in opened.deadlines]
    body = "调查已立案，期限如下 / Investigation opened, deadlines:\n" + "\n".join(lines)
    return _fan_out(
        policy,
        OPENED,
        f"调查立案 {opened.number} / Investigation opened {opened.number}",
        body,
    )


def for_triaged(triaged: CaseTriaged, policy: NotificationPolicy) -> list[Notice]:
    """Triage -> the responsible department and the on-site team (seed 000 §4.1.1); when it ends
    the investigation -> customer service, to reply to the customer and close (DOMAIN.md §3.1, §5)."""
    severity, category = triaged.severity, triaged.category
    classified = [
        f"严重度 Severity: {_named(SEVERITY_NAMES, severity)}",
        f"类别 Category: {_named(CATEGORY_NAMES, category)}",
    ]
    if triaged.special:
        classified.append(f"特殊 Special: {SPECIAL_NAMES.get(triaged.special, triaged.special)}")
    if triaged.ends_investigation:
        if not triaged.valid:
            why, english = "投诉不成立", "the complaint is not valid"
        elif category != "quality":
            why, english = "非质量问题", "not a quality matter"
        else:
            why, english = "非我司责任", "not our fault"
        lines = [
            f"客诉 {triaged.number} 经确认无需调查（{why}）：请回复客户并结案。",
            f"Complaint {triaged.number} needs no investigation ({english}): reply to the customer and close.",
            *classified,
        ]
        return _fan_out(
            policy,
            ENDED_AT_TRIAGE,
            f"请回复客户并结案 {triaged.number} / Reply to the customer and close {triaged.number}",
            _with_deadlines(lines, triaged.deadlines),
        )
    lines = [
        f"客诉 {triaged.number} 已确认分类：{SEVERITY_NAMES.get(severity, severity)}，"
        f"{CATEGORY_NAMES.get(category, category)}。责任部门请调查并回复信息事务处理单。",
        f"Complaint {triaged.number} triaged: severity {severity}, category {category}. "
        "The responsible department investigates and answers the feedback slip.",
        *classified,
    ]
    if triaged.responsible_department:
        lines.append(f"责任部门 Responsible department: {triaged.responsible_department}")
    if triaged.dispatch:
        lines.append(f"外派现场 Dispatched on site: {', '.join(triaged.dispatch)}")
    return _fan_out(
        policy,
        TRIAGED,
        f"客诉分类 {triaged.number}：{SEVERITY_NAMES.get(severity, severity)}/{CATEGORY_NAMES.get(category, category)}"
        f" / Complaint triaged {triaged.number}: {severity}/{category}",
        _with_deadlines(lines, triaged.deadlines),
        named=_department(triaged.responsible_department),
        also=triaged.dispatch,
    )


def _party(p: Share) -> str:
    about = ", ".join(x for x in (p.department, p.role) if x and x != p.name)
    return f"- {p.name}{f' ({about})' if about else ''}: {_percent(p.share)}"


def for_responsibility(assigned: ResponsibilityAssigned, policy: NotificationPolicy) -> list[Notice]:
    """Responsibility -> the department head: the parties, their shares and until when a dispute
    may be filed (seed 000 §4.3.3.2.3); a supplier's share -> purchasing (charge-back, seed 001 §5.3.2)."""
    n, number = assigned.determination, assigned.number
    lines = [f"客诉 {number} 责任判定（第 {n} 次）/ Responsibility determined for {number} (determination {n}):"]
    if assigned.supersedes is not None:
        lines.append(f"取代第 {assigned.supersedes} 次判定 / supersedes determination {assigned.supersedes}")
    lines += [_party(p) for p in assigned.parties]
    if assigned.accident_class:
        lines.append(f"事故类别 Accident class: {_named(ACCIDENT_CLASS_NAMES, assigned.accident_class)}")
    loss = f"损失 Loss: {assigned.loss_amount} 元 CNY"
    if assigned.loss_class:
        loss += f" ({_named(LOSS_CLASS_NAMES, assigned.loss_class)})"
    lines.append(loss)
    if assigned.dispute_window_ends_at is not None:
        until = _at(assigned.dispute_window_ends_at)
        lines += [f"异议期至 {until}，如有异议或市场原因请于此前提出。", f"Disputes may be filed until {until}."]
    body = "\n".join(lines)
    notices = _fan_out(policy, RESPONSIBILITY, f"责任判定 {number} / Responsibility determined {number}", body)
    if assigned.charge_back:
        suppliers = [p for p in assigned.parties if p.kind == "supplier"] or list(assigned.parties)
        notices += _fan_out(
            policy,
            CHARGE_BACK,
            f"供应商索赔 {number} / Supplier charge-back {number}",
            "\n".join(
                [
                    f"客诉 {number} 的损失应向供应商追偿。",
                    f"The losses of complaint {number} are charged back to the supplier.",
                    *(_party(p) for p in suppliers),
                    loss,
                ]
            ),
        )
    return notices


def for_disputed(dispute: DisputeFiled, policy: NotificationPolicy) -> list[Notice]:
    """A dispute -> production operations, who rule finally (seed 000 §4.3.3.2.4)."""
    kind, english = DISPUTE_KIND_NAMES.get(dispute.kind, dispute.kind), dispute.kind.replace("_", " ")
    lines = [
        f"{dispute.department} 对客诉 {dispute.number} 第 {dispute.against} 次责任判定提出{kind}，请生产运营部终裁。",
        f"{dispute.department} disputes determination {dispute.against} of complaint {dispute.number} ({english}): "
        "production operations to rule.",
    ]
    if dispute.reason:
        lines.append(f"理由 Reason: {dispute.reason}")
    return _fan_out(
        policy,
        DISPUTED,
        f"责任异议待裁决 {dispute.number} / Dispute to rule {dispute.number}",
        "\n".join(lines),
    )


def for_ruled(ruling: DisputeRuling, policy: NotificationPolicy) -> list[Notice]:
    """A ruling -> the quality engineer and the disputing department (`department:<name>` when the
    event names it, else the directory's responsible department)."""
    kind, english = DISPUTE_KIND_NAMES.get(ruling.kind, ruling.kind), ruling.kind.replace("_", " ")
    if ruling.upheld:
        verdict = [f"生产运营部裁决：{kind}成立。", f"Production operations upheld the dispute ({english})."]
        if ruling.responsibility_cleared:
            verdict.append("市场原因成立，无责任方 / Market cause accepted: nobody is responsible.")
        elif ruling.determination is not None:
            verdict.append(f"新的责任判定：第 {ruling.determination} 次 / New determination {ruling.determination}.")
    else:
        verdict = [
            f"生产运营部裁决：{kind}不成立，原判定维持。",
            f"Production operations dismissed the dispute ({english}): the determination stands.",
        ]
    if ruling.department:
        verdict.append(f"提出异议部门 Disputing department: {ruling.department}")
    if ruling.reason:
        verdict.append(f"理由 Reason: {ruling.reason}")
    return _fan_out(
        policy,
        RULED,
        f"异议裁决 {ruling.number} / Dispute ruled {ruling.number}",
        "\n".join([f"客诉 {ruling.number} / Complaint {ruling.number}", *verdict]),
        named=_department(ruling.department),
    )


def progress_trigger(progress: CaseProgress) -> str | None:
    """The trigger of a reply, closing or reopening; None when it tells nobody (a preliminary reply)."""
    return {Step.FINAL_REPLY: REPLIED, Step.CLOSED: CLOSED, Step.REOPENED: REOPENED}.get(progress.step)


def for_progress(progress: CaseProgress, policy: NotificationPolicy) -> list[Notice]:
    """The final reply, the closing or a reopening -> customer service and the quality engineer."""
    number = progress.number
    trigger = progress_trigger(progress)
    if trigger is None:
        return []
    if progress.step is Step.FINAL_REPLY:
        subject = f"已最终回复客户 {number} / Final reply sent {number}"
        lines = [
            f"客诉 {number} 已向客户发送最终回复：请回访并结案。",
            f"The final reply of complaint {number} was sent to the customer: follow up and close.",
        ]
    elif progress.step is Step.CLOSED:
        outcome = OUTCOME_NAMES.get(progress.outcome or "", progress.outcome or "")
        subject = f"客诉结案 {number} / Complaint closed {number}"
        lines = [f"客诉 {number} 已结案。", f"Complaint {number} is closed.", f"结果 Outcome: {outcome}"]
    else:
        r = progress.round
        subject = f"客诉重开 {number}（第 {r} 轮）/ Complaint reopened {number} (round {r})"
        lines = [
            f"客户不接受处理结果，客诉 {number} 重开，第 {r} 轮处理开始。",
            f"The customer did not accept the result: complaint {number} is reopened, handling round {r} begins.",
        ]
    if progress.reason:
        lines.append(f"原因 Reason: {progress.reason}")
    return _fan_out(policy, trigger, subject, _with_deadlines(lines, progress.deadlines))
