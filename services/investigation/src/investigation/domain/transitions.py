"""The case's state machine as a table (DOMAIN.md §3), to read beside the regulation.

    opened ─triage→ triaged ─containment→ contained ─root_cause→ root_caused
      ─responsibility→ responsibility_determined ─dispute→ disputed ─ruling→ responsibility_determined
      ─actions→ actions_open ─verification (N clean lots each)→ verified
      ─reply (final)→ replied ─close→ closed
    triaged (not valid / not a quality matter / not our fault) ─reply (final)→ replied ─close→ closed
    replied | closed ─reopen (customer does not accept)→ reopened ─triage | containment→ …
    any open state ─complaint withdrawn→ withdrawn

A step allowed from a state may still be refused by a rule of its own (the dispute window,
CAPA not verified, …); `Case` says why in the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CaseState(StrEnum):
    """States of the case (DOMAIN.md §3, steps 1-8)."""

    OPENED = "opened"
    TRIAGED = "triaged"  # 确认/分类
    CONTAINED = "contained"  # 围堵
    ROOT_CAUSED = "root_caused"  # 原因分析
    RESPONSIBILITY_DETERMINED = "responsibility_determined"  # 责任判定
    DISPUTED = "disputed"  # 异议
    ACTIONS_OPEN = "actions_open"  # 纠正预防措施
    VERIFIED = "verified"  # 效果确认
    REPLIED = "replied"  # 回复
    CLOSED = "closed"  # 结案
    REOPENED = "reopened"  # 客户不接受: 新一轮处理
    WITHDRAWN = "withdrawn"  # 撤回


S = CaseState

# Every state in which the case is still being worked.
ACTIVE = frozenset(S) - {S.OPENED, S.CLOSED, S.WITHDRAWN}


@dataclass(frozen=True)
class Step:
    """A step a person (or the complaint's own changes) takes on the case."""

    name: str
    allowed_from: frozenset[CaseState]
    to: CaseState | None  # None: decided by the step (stays, or depends on what was recorded)
    meaning: str


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step("triage", frozenset({S.OPENED, S.REOPENED}), S.TRIAGED, "确认/分类: validity, category, severity §3.1"),
        Step("containment", frozenset({S.TRIAGED, S.REOPENED}), S.CONTAINED, "围堵: scope and disposition §3.2"),
        Step("root_cause", frozenset({S.CONTAINED}), S.ROOT_CAUSED, "原因分析, 8D D1-D4 §3.3"),
        Step(
            "responsibility",
            frozenset({S.ROOT_CAUSED}),
            S.RESPONSIBILITY_DETERMINED,
            "责任判定 and accident class §3.4-5",
        ),
        Step("dispute", frozenset({S.RESPONSIBILITY_DETERMINED}), S.DISPUTED, "异议 within the window §3.6"),
        Step("ruling", frozenset({S.DISPUTED}), S.RESPONSIBILITY_DETERMINED, "生产运营部 rules finally §3.6"),
        Step(
            "actions",
            frozenset({S.RESPONSIBILITY_DETERMINED, S.ACTIONS_OPEN, S.VERIFIED}),
            S.ACTIONS_OPEN,
            "纠正预防措施 with owner and due date §3.7",
        ),
        Step("verification", frozenset({S.ACTIONS_OPEN}), None, "lot-by-lot check; verified after N clean lots §3.7"),
        Step(
            "standardisation",
            frozenset({S.ACTIONS_OPEN, S.VERIFIED, S.REPLIED}),
            None,
            "documents updated (seed 001 §5.9)",
        ),
        Step("reply", ACTIVE - {S.REPLIED}, None, "回复: preliminary (stays) or final (-> replied) §3.8"),
        Step("follow_up", frozenset({S.REPLIED, S.CLOSED}), None, "回访: satisfaction, accepted or not §3.8"),
        Step("close", frozenset({S.REPLIED}), S.CLOSED, "结案: every action verified, final reply sent"),
        Step("reopen", frozenset({S.REPLIED, S.CLOSED}), S.REOPENED, "客户不接受: a new round (seed 002 (九) 9)"),
        Step("onsite", ACTIVE | {S.CLOSED}, None, "现场: arrival, sheet, return, report (seed 000 §4.2.1)"),
        Step(
            "training",
            frozenset(
                {S.RESPONSIBILITY_DETERMINED, S.DISPUTED, S.ACTIONS_OPEN, S.VERIFIED, S.REPLIED, S.CLOSED, S.REOPENED}
            ),
            None,
            "车间培训 within 15 days (seed 000 §4.2.1)",
        ),
        Step("amend", frozenset(S) - {S.WITHDRAWN}, None, "the complaint was corrected (complaint.amended)"),
        Step("withdraw", frozenset(S) - {S.CLOSED, S.WITHDRAWN}, S.WITHDRAWN, "the complaint was withdrawn"),
    )
}

# The steps a person takes through the API (amend and withdraw come from intake's events).
API_STEPS = tuple(name for name in STEPS if name not in {"amend", "withdraw"})
