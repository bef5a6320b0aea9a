"""The 8D report's words in Chinese and English: section titles, field labels and the codes' names.

Only the labels are translated; what people wrote in the case is shown as they wrote it.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

EMPTY = "—"  # shown for anything not (yet) known

_LABELS: dict[str, tuple[str, str]] = {  # key -> (zh, en)
    "title": ("8D 报告", "8D Report"),
    "version.customer": ("客户版", "Customer version"),
    "version.internal": ("内部版", "Internal version"),
    "confidential": ("内部资料 · 严禁外传", "Internal · do not forward"),
    "page": ("第 {page} / {total} 页", "Page {page} of {total}"),
    # header
    "number": ("报告编号", "Report no."),
    "factory": ("工厂", "Factory"),
    "customer": ("客户", "Customer"),
    "product_model": ("产品型号", "Product model"),
    "part_number": ("料号", "Part number"),
    "phenomenon": ("问题现象", "Phenomenon"),
    "received_at": ("接收时间", "Received at"),
    "severity": ("严重度", "Severity"),
    "category": ("类别", "Category"),
    "generated_at": ("生成时间", "Generated at"),
    "version": ("版本", "Version"),
    # sections
    "d0": ("D0 紧急响应", "D0 Emergency response"),
    "d1": ("D1 成立小组", "D1 Team"),
    "d2": ("D2 问题描述", "D2 Problem description"),
    "d3": ("D3 临时围堵措施", "D3 Containment actions"),
    "d4": ("D4 根本原因分析", "D4 Root cause analysis"),
    "d5": ("D5 永久纠正措施", "D5 Permanent corrective actions"),
    "d6": ("D6 实施与效果验证", "D6 Implementation and validation"),
    "d7": ("D7 预防再发与标准化", "D7 Prevention and standardisation"),
    "d8": ("D8 结案与团队表彰", "D8 Closure and team recognition"),
    "responsibility": ("责任判定", "Responsibility"),
    "accident": ("事故分级与损失", "Accident class and loss"),
    "penalties": ("处罚", "Penalties"),
    "dispute": ("异议与裁决", "Dispute and ruling"),
    "history": ("处理记录", "History"),
    # D0
    "emergency_response": ("应急处理", "Emergency response"),
    "scope": ("影响范围", "Affected scope"),
    "location": ("位置", "Location"),
    "quantity": ("数量", "Quantity"),
    "disposition": ("处置", "Disposition"),
    "note": ("备注", "Note"),
    # D1
    "name": ("姓名", "Name"),
    "role": ("角色", "Role"),
    "department": ("部门", "Department"),
    # D2
    "description": ("描述", "Description"),
    "what": ("何事 What", "What"),
    "where": ("何地 Where", "Where"),
    "when": ("何时 When", "When"),
    "who": ("何人 Who", "Who"),
    "why": ("为何 Why", "Why"),
    "how": ("如何 How", "How"),
    "how_many": ("多少 How many", "How many"),
    # D3 / D5
    "action": ("措施", "Action"),
    "owner": ("负责人", "Owner"),
    "due": ("完成期限", "Due"),
    "state": ("状态", "State"),
    "completed_on": ("完成日期", "Completed on"),
    # D4
    "occurrence": ("发生原因", "Occurrence cause"),
    "escape": ("流出原因", "Escape cause"),
    "five_whys": ("五问法", "Five whys"),
    "chain": ("原因链 {n}", "Chain {n}"),
    "why_n": ("为什么 {n}", "Why {n}"),
    "fishbone": ("鱼骨图（人机料法测环）", "Fishbone (man, machine, material, method, measurement, environment)"),
    "fishbone_category": ("因素", "Factor"),
    "causes": ("原因", "Causes"),
    # D6
    "lot": ("批次", "Lot"),
    "checked_at": ("检验时间", "Checked at"),
    "inspected_quantity": ("检验数量", "Inspected"),
    "defect_found": ("发现不良", "Defect found"),
    "verdict": ("验证结论", "Verdict"),
    # D7
    "prevention": ("预防措施", "Prevention"),
    "documents": ("标准化文件", "Standardised documents"),
    "document": ("文件", "Document"),
    "code": ("编号", "Code"),
    "revision": ("版本/变更", "Revision"),
    # D8
    "closed_at": ("结案时间", "Closed at"),
    "closure_text": ("结案说明", "Closing remarks"),
    # internal
    "party": ("责任方", "Party"),
    "kind": ("类型", "Kind"),
    "person": ("责任人", "Person"),
    "share": ("责任比例", "Share"),
    "accident_class": ("事故等级", "Accident class"),
    "loss_amount": ("损失金额", "Loss"),
    "rule_codes": ("适用条款", "Rules applied"),
    "amount": ("金额", "Amount"),
    "measure": ("处罚措施", "Measure"),
    "rule_code": ("条款", "Rule"),
    "raised_by": ("提出方", "Raised by"),
    "raised_at": ("提出时间", "Raised at"),
    "reason": ("理由", "Reason"),
    "ruling": ("裁决", "Ruling"),
    "ruled_by": ("裁决人", "Ruled by"),
    "ruled_at": ("裁决时间", "Ruled at"),
    "at": ("时间", "When"),
    "actor": ("操作人", "Who"),
    "what_done": ("操作", "What"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
}

# Known codes get a name; anything else is shown as written.
_CODES: dict[str, dict[str, tuple[str, str]]] = {
    "location": {
        "shipped": ("已出货", "Shipped"),
        "wip": ("在制品", "Work in progress"),
        "warehouse": ("库存", "Warehouse stock"),
    },
    "disposition": {
        "rework": ("返工", "Rework"),
        "concession": ("特采", "Concession"),
        "scrap": ("报废", "Scrap"),
        "sorting": ("挑选", "Sorting"),
        "isolation": ("隔离", "Isolation"),
        "recall": ("召回", "Recall"),
        "production_stop": ("停产", "Production stop"),
        "return": ("退货", "Return"),
        "exchange": ("换货", "Exchange"),
        "use_as_is": ("照常使用", "Use as is"),
    },
    "role": {
        "leader": ("组长", "Team leader"),
        "champion": ("倡导者", "Champion"),
        "member": ("组员", "Member"),
    },
    "state": {
        "open": ("未开始", "Open"),
        "in_progress": ("进行中", "In progress"),
        "done": ("已完成", "Done"),
        "verified": ("已验证", "Verified"),
        "overdue": ("已逾期", "Overdue"),
        "cancelled": ("已取消", "Cancelled"),
    },
    "severity": {
        "urgent": ("紧急", "Urgent"),
        "critical": ("特重大", "Critical"),
        "major": ("重大", "Major"),
        "moderate": ("较大", "Moderate"),
        "minor": ("一般", "Minor"),
    },
    "category": {
        "quality": ("质量问题", "Quality"),
        "non_quality": ("非质量问题", "Non-quality"),
    },
    "verdict": {
        "effective": ("有效", "Effective"),
        "not_effective": ("无效", "Not effective"),
        "pending": ("验证中", "Pending"),
    },
    "fishbone": {
        "man": ("人", "Man"),
        "machine": ("机", "Machine"),
        "material": ("料", "Material"),
        "method": ("法", "Method"),
        "measurement": ("测", "Measurement"),
        "environment": ("环", "Environment"),
    },
    "kind": {
        "department": ("部门", "Department"),
        "person": ("个人", "Person"),
        "role": ("岗位", "Role"),
        "supplier": ("供应商", "Supplier"),
    },
    "accident_class": {
        "technical_major": ("技术性重大事故", "Technical, major"),
        "technical_general": ("技术性一般事故", "Technical, general"),
        "management_major": ("管理性重大事故", "Management, major"),
        "management_general": ("管理性一般事故", "Management, general"),
        "communication_error": ("部门间沟通失误", "Inter-department communication error"),
        "extraordinary": ("特大事故", "Extraordinary"),
        "major": ("重大事故", "Major"),
        "serious": ("严重事故", "Serious"),
        "general": ("一般事故", "General"),
    },
}


def label(key: str, lang: Language, **values: object) -> str:
    """A label; `values` fill its placeholders (e.g. page numbers)."""
    zh, en = _LABELS[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text


def code_name(group: str, code: str | None, lang: Language) -> str:
    """The name of a known code, the text itself otherwise, or EMPTY."""
    if code is None or not code.strip():
        return EMPTY
    names = _CODES.get(group, {}).get(code)
    if names is None:
        return code
    return names[0] if lang == "zh" else names[1]
