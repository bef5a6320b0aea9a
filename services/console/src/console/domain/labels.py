"""Codes as quality staff read them: Chinese first, English beside (a code without a label shows
as the code itself, never as nothing)."""

from __future__ import annotations

from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "state": {
        "opened": ("已立案", "Opened"),
        "triaged": ("已确认/分类", "Triaged"),
        "contained": ("已围堵", "Contained"),
        "root_caused": ("已查明原因", "Root cause found"),
        "responsibility_determined": ("已判定责任", "Responsibility determined"),
        "disputed": ("异议中", "Disputed"),
        "actions_open": ("措施实施中", "Actions open"),
        "verified": ("效果已确认", "Verified"),
        "replied": ("已回复客户", "Replied"),
        "closed": ("已结案", "Closed"),
        "reopened": ("已重开", "Reopened"),
        "withdrawn": ("已撤回", "Withdrawn"),
        "registered": ("已受理", "Registered"),
    },
    "step": {
        "triage": ("确认/分类", "Triage"),
        "containment": ("围堵/应急处理", "Containment"),
        "root_cause": ("原因分析", "Root cause"),
        "responsibility": ("责任判定", "Responsibility"),
        "dispute": ("提出异议", "Dispute"),
        "ruling": ("异议裁决", "Ruling"),
        "actions": ("纠正预防措施", "Corrective actions"),
        "verification": ("效果确认", "Verification"),
        "standardisation": ("标准化", "Standardisation"),
        "training": ("培训", "Training"),
        "onsite": ("现场处理", "On-site visit"),
        "reply": ("回复客户", "Customer reply"),
        "follow_up": ("回访", "Follow-up"),
        "close": ("结案", "Close"),
        "reopen": ("重开", "Reopen"),
    },
    "milestone": {
        "first_response": ("首次响应", "First response"),
        "handling_proposal": ("处理方案", "Handling proposal"),
        "customer_reply": ("回复客户", "Customer reply"),
        "customer_reply_latest": ("回复客户(最迟)", "Customer reply (latest)"),
        "preliminary_report": ("初步报告", "Preliminary report"),
        "close": ("结案", "Closing"),
        "close_in_province": ("结案(本省)", "Closing (in province)"),
        "close_out_of_province": ("结案(外省)", "Closing (out of province)"),
        "close_domestic": ("结案(国内)", "Closing (domestic)"),
        "close_foreign": ("结案(国外)", "Closing (foreign)"),
        "onsite_sheet_return": ("现场处理单回传", "On-site sheet returned"),
        "onsite_work_report": ("现场工作报告", "On-site work report"),
        "feedback_slip": ("信息事务处理单", "Feedback slip"),
        "feedback_slip_difficult": ("信息事务处理单(较难)", "Feedback slip (difficult)"),
        "process_abnormality_reply": ("制程异常回复", "Process abnormality reply"),
        "hazardous_substance_reply": ("有害物质回复", "Hazardous substance reply"),
        "workshop_training": ("车间培训", "Workshop training"),
        "action": ("纠正措施", "Corrective action"),
        "dispute_window": ("异议期", "Dispute window"),
        "ruling": ("异议裁决", "Ruling"),
        "penalty_cycle": ("处罚月度周期", "Monthly penalty cycle"),
    },
    "deadline_state": {
        "pending": ("进行中", "Pending"),
        "met": ("已完成", "Met"),
        "cancelled": ("已取消", "Cancelled"),
        "overdue": ("已超期", "Overdue"),
    },
    "severity": {
        "urgent": ("紧急", "Urgent"),
        "critical": ("特重大", "Critical"),
        "major": ("重大", "Major"),
        "moderate": ("较大", "Moderate"),
        "minor": ("一般", "Minor"),
    },
    "channel": {
        "phone": ("电话", "Phone"),
        "email": ("电子邮件", "E-mail"),
        "fax": ("传真", "Fax"),
        "letter": ("信函", "Letter"),
        "wechat": ("微信/企业微信", "WeChat / WeCom"),
        "portal": ("网站", "Web portal"),
        "onsite": ("现场", "On site"),
        "consumer_association": ("消费者协会", "Consumer association"),
        "system": ("其他系统", "Other system"),
    },
    "assessment": {
        "draft": ("待审批", "Draft"),
        "appealed": ("申诉中", "Appealed"),
        "approved": ("已批准", "Approved"),
        "superseded": ("已被替代", "Superseded"),
        "void": ("已作废", "Void"),
    },
    "role": {
        "customer_service": ("客服部", "Customer service"),
        "quality_engineer": ("品质工程师", "Quality engineer"),
        "quality_manager": ("品质部主管", "Quality manager"),
        "department_head": ("责任部门主管", "Department head"),
        "production_operations": ("生产运营部", "Production operations"),
        "hr": ("人力部", "HR"),
        "finance": ("财务部", "Finance"),
        "general_manager": ("总经理", "General manager"),
        "auditor": ("审计(只读)", "Auditor (read-only)"),
        "admin": ("管理员", "Administrator"),
    },
    "level": {
        "0": ("已超期", "Breached"),
        "1": ("一级升级(主管)", "Escalated 1 (department head)"),
        "2": ("二级升级(总监)", "Escalated 2 (director)"),
        "3": ("三级升级(总经理)", "Escalated 3 (general manager)"),
    },
}


def label(kind: str, code: object, language: Language) -> str:
    if code is None or code == "":
        return "—"
    pair = LABELS.get(kind, {}).get(str(code))
    if pair is None and kind == "milestone":  # action:A3 → the corrective action A3
        base, _, rest = str(code).partition(":")
        pair = LABELS["milestone"].get(base)
        if pair is not None and rest:
            return f"{pair[0 if language == 'zh' else 1]} {rest}"
    if pair is None:
        return str(code)
    return pair[0] if language == "zh" else pair[1]
