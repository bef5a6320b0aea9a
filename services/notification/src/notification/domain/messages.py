"""The notices sent for each event, in Chinese and English. Pure: no I/O."""

from __future__ import annotations

from notification.domain.model import CaseOpened, ComplaintSummary, Notice
from notification.domain.policy import NotificationPolicy

REGISTERED = "complaint.registered"
BATCH_RETURN = "complaint.batch_return"
OPENED = "investigation.opened"

MILESTONE_NAMES = {
    "first_response": "首次响应 first response",
    "handling_proposal": "处理方案 handling proposal",
    "customer_reply": "客户回复 customer reply",
    "customer_reply_latest": "客户回复最迟 customer reply (latest)",
    "preliminary_report": "初步报告 preliminary report",
    "close": "结案 close",
}


def _fan_out(policy: NotificationPolicy, trigger: str, subject: str, body: str, urgent: bool = False) -> list[Notice]:
    return [Notice(role, who, subject, body, urgent) for role, who in policy.recipients(trigger)]


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
    lines = [
        f"{MILESTONE_NAMES.get(d.milestone, d.milestone)}: {d.due_at.isoformat(timespec='minutes')}"
        for d in opened.deadlines
    ]
    body = "调查已立案，期限如下 / Investigation opened, deadlines:\n" + "\n".join(lines)
    return _fan_out(
        policy,
        OPENED,
        f"调查立案 {opened.number} / Investigation opened {opened.number}",
        body,
    )
