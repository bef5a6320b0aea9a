"""The notices sent for each event, in Chinese and English. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

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
ASSESSED = "penalty.assessed"  # draft line items: first computed, or after the GM's appeal decision
APPEALED = "penalty.appealed"
FINALIZED = "penalty.finalized"  # approved line items: HR and finance (DOMAIN.md §5)
PERIOD_CLOSED = "penalty.period_closed"

# The route roles an event may name itself: `department:<name>`, `department_head:<name>`.
RESPONSIBLE_DEPARTMENT = "responsible_department"
DEPARTMENT_HEAD = "department_head"

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
    # the monthly penalty cycle (seed 000 §4.2.2)
    "monthly_summary": "月度客诉汇总 monthly summary",
    "workshop_proposal": "车间处罚意见 workshop proposal",
    "production_approval": "生产运营部签准 production operations approval",
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
LINE_KIND_NAMES = {
    "fine": "罚款 fine",
    "points": "扣分 points",
    "charge_back": "供应商索赔 charge-back",
    "exempt": "豁免 exempt",
    "commission_cancelled": "取消提成 commission cancelled",
}
PAYER_ROLE_NAMES = {
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
}
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
    named: Mapping[str, str | Sequence[str]] | None = None,
    also: Iterable[str] = (),
) -> list[Notice]:
    recipients = policy.recipients(trigger, named=named, also=also)
    return [Notice(role, who, subject, body, urgent) for role, who in recipients]


def _department(name: str | None) -> dict[str, str | Sequence[str]]:
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


# -- penalty (考核) --------------------------------------------------------------------------


def _money(amount: Decimal, currency: str = "CNY") -> str:
    return f"{amount:.2f} 元 {currency}" if currency == "CNY" else f"{amount:.2f} {currency}"


def _points(points: Decimal) -> str:
    return f"{points.normalize():f}"


def _item(line: PenaltyItem, currency: str) -> str:
    """`- 5.2.6 部门主管 department_head 张主任 (装配车间): 100.00 元 CNY`, with what it is and was."""
    role = _named(PAYER_ROLE_NAMES, line.role)
    where = f" ({line.department})" if line.department and line.department != line.payee else ""
    if line.kind == "points":
        what = f"{_points(line.points)} 分 points"
    elif line.kind == "fine":
        what = _money(line.amount, currency)
    else:
        what = f"{LINE_KIND_NAMES.get(line.kind, line.kind)} {line.amount:.2f}"
    if line.original_amount is not None and line.original_amount != line.amount:
        what += f"（原 was {line.original_amount:.2f}）"
    if line.unresolved:
        what += "（待人事确定责任人 HR resolves the person）"
    return f"- {line.rule_code} {role} {line.payee}{where}: {what}"


def _items(penalty: PenaltyNotice) -> list[str]:
    lines = [_item(line, penalty.currency) for line in penalty.lines]
    lines.append(f"合计罚款 Total fines: {_money(penalty.total, penalty.currency)}")
    if penalty.charge_backs:
        lines.append(f"供应商索赔（不计入内部台账）Charge-backs (outside the ledger): {_money(penalty.charge_backs)}")
    if penalty.adjustment:
        lines.append(
            f"原期间已关账，作为调整计入 {penalty.period}。"
            f" / Its own period was closed: an adjustment in {penalty.period}."
        )
    if penalty.illustrative:
        lines.append(
            "【注意】部分金额按示意系数计算（制度未印系数表），请按本厂系数核对。"
            " / [NOTE] Some amounts use illustrative coefficients (the seed prints none): check them against the "
            "factory's table."
        )
    return lines


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


def _decision(appeal: AppealState) -> list[str]:
    if appeal.upheld:
        lines = ["总经理裁决：申诉成立，金额已调整。", "The general manager upheld the appeal: amounts changed."]
    else:
        lines = ["总经理裁决：申诉驳回，原考核维持。", "The general manager dismissed the appeal: the lines stand."]
    if appeal.decision:
        lines.append(f"裁决理由 Decision: {appeal.decision}")
    return lines


def for_assessed(penalty: PenaltyNotice, policy: NotificationPolicy) -> list[Notice]:
    """Draft line items -> the heads of the departments they name: the total and, while no appeal
    was decided, that the penalised may appeal to the general manager once before approval
    (seed 002 篇二 §四.9); after the decision, the decision (final) and the approval next."""
    number, appeal = penalty.number, penalty.appeal
    if not assessed_tells(penalty):
        return []
    if appeal is None:
        subject = f"考核草案 {number} / Penalty draft {number}"
        lines = [
            f"客诉 {number} 的考核明细（草案）已计算，计入 {penalty.period} 月度台账：",
            f"The penalty line items (draft) of complaint {number} are computed, in the {penalty.period} ledger:",
        ]
        if penalty.supersedes:
            lines.append(f"取代 Supersedes: {', '.join(penalty.supersedes)}")
        lines += _items(penalty)
        lines += [
            "如有异议，被处罚部门可在生产运营部签准前向总经理申诉（一次）。",
            "The penalised department may appeal to the general manager once, before production operations approves.",
        ]
    else:
        subject = f"考核申诉已裁决 {number} / Penalty appeal decided {number}"
        lines = [f"客诉 {number} 的考核申诉已裁决。", f"The penalty appeal of complaint {number} is decided."]
        lines += _decision(appeal)
        lines += _items(penalty)
        lines += ["裁决为终局，待生产运营部签准。", "The decision is final: production operations approves next."]
    return _fan_out(
        policy,
        ASSESSED,
        subject,
        _with_deadlines(lines, penalty.deadlines),
        named=_heads(penalty),
    )


def for_appealed(penalty: PenaltyNotice, policy: NotificationPolicy) -> list[Notice]:
    """An appeal (申诉) -> the general manager, who decides it (seed 002 篇二 §四.9)."""
    number, appeal = penalty.number, penalty.appeal
    lines = [
        f"客诉 {number} 的考核被申诉，请总经理裁决。",
        f"The penalty of complaint {number} is appealed: the general manager decides.",
    ]
    if appeal is not None:
        lines.append(f"申诉人 Appealed by: {appeal.by}")
        if appeal.reason:
            lines.append(f"理由 Reason: {appeal.reason}")
        contested = [penalty.lines[i] for i in appeal.lines if 0 <= i < len(penalty.lines)]
        if contested:
            lines.append("申诉明细 Contested lines:")
            lines += [_item(line, penalty.currency) for line in contested]
        else:
            lines.append("申诉全部明细 The whole assessment is contested.")
    lines += ["全部明细 All lines:", *_items(penalty)]
    return _fan_out(
        policy,
        APPEALED,
        f"考核申诉待裁决 {number} / Penalty appeal to decide {number}",
        _with_deadlines(lines, penalty.deadlines),
    )


def for_finalized(penalty: PenaltyNotice, policy: NotificationPolicy) -> list[Notice]:
    """Approved line items -> HR and finance (DOMAIN.md §5: penalty approved -> HR and finance)."""
    number = penalty.number
    lines = [
        f"客诉 {number} 的考核已签准，计入 {penalty.period} 月度台账，请人事/财务执行。",
        f"The penalty of complaint {number} is approved, in the {penalty.period} ledger: HR and finance to apply it.",
    ]
    if penalty.approved_by:
        lines.append(f"签准人 Approved by: {penalty.approved_by}")
    lines.append(f"处罚对象 Payees: {penalty.payees}")
    if penalty.appeal is not None and penalty.appeal.decided:
        lines += _decision(penalty.appeal)
    lines += _items(penalty)
    unresolved = sum(line.unresolved for line in penalty.lines)
    if unresolved:
        lines.append(f"{unresolved} 条明细待人事确定责任人 / {unresolved} line(s) for HR to name the person")
    flag = " [示意系数 illustrative]" if penalty.illustrative else ""
    return _fan_out(
        policy,
        FINALIZED,
        f"考核已签准 {number}：{penalty.total:.2f} 元 / Penalty approved {number}: {penalty.total:.2f} CNY{flag}",
        "\n".join(lines),
    )


def for_period_closed(closed: PeriodClosed, policy: NotificationPolicy) -> list[Notice]:
    """A closed monthly ledger -> HR and finance: the totals and the cost of poor quality."""
    factory, period = closed.factory, closed.period
    lines = [
        f"{factory} {period} 月度考核台账已关账（{closed.closed_by}），此后更正计入下月。",
        f"The {period} penalty ledger of {factory} is closed by {closed.closed_by}: corrections land in the next "
        "month.",
        f"赔偿 Compensation: {_money(closed.compensation)}",
        f"罚款 Fines: {_money(closed.fines)}",
        f"供应商索赔 Charge-backs: {_money(closed.charge_backs)}",
        f"质量成本 Cost of poor quality: {_money(closed.cost_of_poor_quality)}",
        f"绩效分 Performance points: {_points(closed.performance_points)}",
        f"管理分 Management points: {_points(closed.management_points)}",
    ]
    if closed.unresolved_lines:
        n = closed.unresolved_lines
        lines.append(f"{n} 条明细待人事确定责任人 / {n} line(s) for HR to name the person")
    if closed.departments:
        lines.append("各部门 Per department:")
        lines += [
            f"- {name}: {_money(t.fines)}, 绩效分 performance {_points(t.performance_points)}, "
            f"管理分 management {_points(t.management_points)}, {t.lines} 条 lines"
            for name, t in closed.departments
        ]
    return _fan_out(
        policy,
        PERIOD_CLOSED,
        f"月度考核台账关账 {factory} {period} / Penalty ledger closed {factory} {period}",
        "\n".join(lines),
    )
