"""HTTP API of investigation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from cqm_shared.contracts.complaint import DateTimeText
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from cqm_shared.web import expected_version, given_once, version_etag
from investigation.adapters.report import render_html, render_pdf
from investigation.domain.listing import CaseFilter, CaseLine, CaseSort, Position, position_of, states_named
from investigation.domain.model import Case, ComplaintFacts, Deadline, Transition
from investigation.domain.records import (
    Action,
    Containment,
    Dispute,
    FishboneCause,
    FollowUp,
    LossClass,
    LotCheck,
    Party,
    RecallDecision,
    Records,
    Reply,
    Responsibility,
    RootCause,
    Ruling,
    Standardisation,
    Training,
    Triage,
)
from investigation.domain.report_of_case import report_of
from investigation.domain.rules import propose_split
from investigation.entrypoints import step_bodies as b
from investigation.service import statistics as stats
from investigation.service.handlers import Policies, StepContext, case_list, case_of, take_step
from investigation.service.unit_of_work import InvestigationUnitOfWork

router = APIRouter(prefix="/api/v1/investigations", tags=["investigations"])


def _uow(request: Request, principal: Principal) -> InvestigationUnitOfWork:
    uow: InvestigationUnitOfWork = request.app.state.units_of_work(principal.as_actor(), None)
    return uow


class DeadlineView(BaseModel):
    milestone: str
    round: int
    due_at: datetime
    state: str  # pending / met / cancelled
    source: str  # the regulation clause the default comes from
    met_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, d: Deadline) -> DeadlineView:
        return cls(
            milestone=d.milestone,
            round=d.round,
            due_at=d.due_at,
            state=d.state.value,
            source=d.source,
            met_at=d.met_at,
            cancelled_at=d.cancelled_at,
        )


class CustomerView(BaseModel):
    company: str


class ProductView(BaseModel):
    part_number: str | None
    model: str | None


class CustomerRequestView(BaseModel):
    kind: str


class MarketView(BaseModel):
    region: str
    province: str | None


class ComplaintView(BaseModel):
    """The facts of the complaint investigation keeps (named as in the complaint record)."""

    number: str
    factory: str
    received_at: datetime
    registered_at: datetime
    customer: CustomerView
    product: ProductView
    phenomenon: str
    customer_request: CustomerRequestView | None
    market: MarketView
    batch_return: bool
    quantity_defective: int | None

    @classmethod
    def of(cls, c: ComplaintFacts) -> ComplaintView:
        return cls(
            number=c.number,
            factory=c.factory,
            received_at=c.received_at,
            registered_at=c.registered_at,
            customer=CustomerView(company=c.customer_company),
            product=ProductView(part_number=c.part_number, model=c.product_model),
            phenomenon=c.phenomenon,
            customer_request=CustomerRequestView(kind=c.request_kind) if c.request_kind is not None else None,
            market=MarketView(region=c.region.value, province=c.province.value if c.province else None),
            batch_return=c.batch_return,
            quantity_defective=c.quantity_defective,
        )


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    reason: str

    @classmethod
    def of(cls, t: Transition) -> HistoryEntry:
        return cls(
            at=t.at,
            actor=t.actor,
            action=t.action,
            from_state=t.from_state.value if t.from_state else None,
            to_state=t.to_state.value,
            reason=t.reason,
        )


class InvestigationView(BaseModel):
    number: str
    factory: str
    state: str
    version: int
    round: int
    outcome: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    deadlines: list[DeadlineView]
    complaint: ComplaintView
    next_steps: list[str]  # the steps allowed now; the others answer 409
    records: Records  # what was recorded at each step (triage, containment, root cause, …)
    parties: list[Party]  # the current determination's parties with their shares
    actions: list[Action]  # corrective and preventive actions with their lot checks
    history: list[HistoryEntry]

    @classmethod
    def of(cls, case: Case) -> InvestigationView:
        resp = case.records.responsibility
        return cls.model_validate(
            {
                "number": case.number,
                "factory": case.factory,
                "state": case.state.value,
                "version": case.version,
                "round": case.round,
                "outcome": case.outcome,
                "opened_at": case.opened_at,
                "updated_at": case.updated_at,
                "closed_at": case.closed_at,
                "deadlines": [DeadlineView.of(d) for d in case.deadlines],
                "complaint": ComplaintView.of(case.complaint),
                "next_steps": case.allowed_steps(),
                "records": case.records,
                "parties": list(resp.parties) if resp else [],
                "actions": list(case.records.actions),
                "history": [HistoryEntry.of(t) for t in case.history],
            }
        )


def _policies(request: Request) -> Policies:
    policies: Policies = request.app.state.policies
    return policies


IfMatch = Annotated[int | None, Depends(expected_version)]
Number = Annotated[str, Path(max_length=32)]
_ETAG_DOC = {
    "headers": {
        "ETag": {
            "description": 'the case version, e.g. "3": send it back as If-Match to change the case',
            "schema": {"type": "string"},
        }
    }
}
_STEP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _ETAG_DOC,
    409: {
        "description": "the step is not allowed in the case's state (the answer names the state and why), "
        "or the case changed since the version in If-Match"
    },
}


# -- the case list (我的待办 / 案件列表) ---------------------------------------------------------


StateParam = Literal[
    "open",
    "opened",
    "triaged",
    "contained",
    "root_caused",
    "responsibility_determined",
    "disputed",
    "actions_open",
    "verified",
    "replied",
    "closed",
    "reopened",
    "withdrawn",
]
# Keyset cursor "<d|o>~<time in epoch microseconds>~<number>" (d: among the cases with a pending
# deadline, the time is the next one's due time; o: the opening time), as intake's search: every
# value the pattern admits is a position, so a schema-valid cursor is never refused.
CURSOR_PATTERN = r"^[do]~[0-9]{1,16}~[A-Za-z0-9-]{1,32}$"
EPOCH = datetime.fromtimestamp(0, UTC)


def _decode_cursor(cursor: str) -> Position:
    part, micros, number = cursor.split("~", 2)
    return Position(part == "d", EPOCH + timedelta(microseconds=int(micros)), number)


def _encode_cursor(position: Position) -> str:
    return f"{'d' if position.due else 'o'}~{(position.at - EPOCH) // timedelta(microseconds=1)}~{position.number}"


class NextDeadlineView(BaseModel):
    milestone: str
    round: int
    due_at: datetime
    state: str  # always pending: the earliest pending deadline
    overdue: bool  # past due now


class CaseLineView(BaseModel):
    number: str
    factory: str
    state: str
    severity: str | None  # triage's, None before triage
    responsible_department: str | None  # triage's (who receives the feedback slip)
    departments: list[str]  # the current determination's (parties' departments)
    opened_at: datetime
    next_deadline: NextDeadlineView | None  # None: no deadline pending
    pending_deadlines: int
    overdue_deadlines: int

    @classmethod
    def of(cls, line: CaseLine) -> CaseLineView:
        upcoming = line.next_deadline
        return cls(
            number=line.number,
            factory=line.factory,
            state=line.state,
            severity=line.severity,
            responsible_department=line.responsible_department,
            departments=list(line.departments),
            opened_at=line.opened_at,
            next_deadline=NextDeadlineView(
                milestone=upcoming.milestone,
                round=upcoming.round,
                due_at=upcoming.due_at,
                state=upcoming.state.value,
                overdue=line.overdue,
            )
            if upcoming
            else None,
            pending_deadlines=line.pending_deadlines,
            overdue_deadlines=line.overdue_deadlines,
        )


class CasePage(BaseModel):
    items: list[CaseLineView]
    next_cursor: str | None  # send it back as `cursor` (with the same filters and sort) for the next page


LIST_ONCE = given_once("factory", "department", "overdue", "due_before", "number_prefix", "sort", "limit", "cursor")


@router.get(
    "",
    response_model=CasePage,
    summary="Cases by next deadline or opening time, with what is pending and overdue (cursor-paginated)",
)
async def list_investigations(
    request: Request,
    principal: Annotated[Principal, Depends(require("investigations:read"))],
    _once: Annotated[None, Depends(LIST_ONCE)],
    factory: Annotated[
        str | None, Query(pattern=r"^[A-Z][A-Z0-9]{1,9}$", description="one factory (default: all you see)")
    ] = None,
    state: Annotated[
        list[StateParam] | None,
        Query(description="one or more case states; `open`: every state but closed and withdrawn"),
    ] = None,
    department: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="triage's responsible department, or a department the current determination names",
        ),
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="true: a pending deadline past due now; false: none past due")
    ] = None,
    due_before: Annotated[DateTimeText | None, Query(description="a pending deadline due before this time")] = None,
    number_prefix: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9-]{1,32}$", description="e.g. F01-2611")] = None,
    sort: Annotated[
        Literal["due", "opened"],
        Query(description="due: next deadline first, cases without one last (newest first); opened: newest first"),
    ] = "due",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> CasePage:
    """The console's "My work" (我的待办) and case list. Overdue is judged by the service's clock
    (DOMAIN.md §3 "Deadlines"); only the caller's factories are listed, and a factory they may not
    see answers 404."""
    f = CaseFilter(
        factories=stats.scope(principal.visible_factories(), factory),
        states=states_named(state) if state else None,
        department=department,
        overdue=overdue,
        due_before=due_before,
        number_prefix=number_prefix,
    )
    order = CaseSort(sort)
    after = _decode_cursor(cursor) if cursor else None
    lines = await case_list(_uow(request, principal), f, sort=order, after=after, limit=limit + 1)
    more = len(lines) > limit
    lines = lines[:limit]
    return CasePage(
        items=[CaseLineView.of(line) for line in lines],
        next_cursor=_encode_cursor(position_of(lines[-1], order)) if more else None,
    )


@router.get(
    "/{number}",
    response_model=InvestigationView,
    summary="State, deadlines, parties, actions, history",
    responses={200: _ETAG_DOC},
)
async def read_investigation(
    number: Number,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("investigations:read"))],
) -> InvestigationView:
    case = await case_of(_uow(request, principal), number)
    response.headers["ETag"] = version_etag(case.version)
    return InvestigationView.of(case)


async def _take(
    request: Request,
    response: Response,
    principal: Principal,
    number: str,
    version: int | None,
    step: Callable[[Case, StepContext], None],
) -> InvestigationView:
    case = await take_step(_uow(request, principal), number, step, _policies(request), expected_version=version)
    response.headers["ETag"] = version_etag(case.version)
    return InvestigationView.of(case)


Work = Annotated[Principal, Depends(require("investigations:work"))]


@router.post(
    "/{number}/triage",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="确认/分类: validity, category, severity; who goes on site (§3.1)",
)
async def triage(
    number: Number, body: b.TriageBody, request: Request, response: Response, principal: Work, version: IfMatch = None
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.triage(
            Triage(
                valid=body.valid,
                category=body.category,
                severity=body.severity,
                our_fault=body.our_fault,
                at=ctx.at,
                by=ctx.by,
                special=body.special,
                difficult=body.difficult,
                responsible_department=body.responsible_department,
                dispatch=tuple(body.dispatch or ()),
                arrive_by=body.arrive_by,
                note=body.note,
            ),
            ctx.policy,
            reason=body.reason,
        )

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/containment",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="围堵: affected scope, recall decision, production stop, disposition (§3.2)",
)
async def containment(
    number: Number,
    body: b.ContainmentBody,
    request: Request,
    response: Response,
    principal: Work,
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        recall = body.recall
        case.contain(
            Containment(
                scope=body.affected(),
                dispositions=tuple(body.dispositions),
                at=ctx.at,
                by=ctx.by,
                actions=body.actions,
                production_stop=body.production_stop,
                note=body.note,
                recall=RecallDecision(recall.recall, recall.decided_by, recall.note) if recall else None,
            ),
            reason=body.reason,
        )

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/root_cause",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="原因分析: occurrence and escape cause, 5-why, fishbone, 8D D1/D2/D7 (§3.3)",
)
async def root_cause(
    number: Number,
    body: b.RootCauseBody,
    request: Request,
    response: Response,
    principal: Work,
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.analyse(
            RootCause(
                occurrence_cause=body.occurrence_cause,
                escape_cause=body.escape_cause,
                at=ctx.at,
                by=ctx.by,
                team=tuple(body.team),
                problem=body.problem,
                why_chains=tuple(tuple(c) for c in body.why_chains),
                fishbone=tuple(FishboneCause(f.category, f.cause) for f in body.fishbone),
                prevention=body.prevention,
            ),
            reason=body.reason,
        )

    return await _take(request, response, principal, number, version, step)


class SplitProposalView(BaseModel):
    situation: str | None
    source: str | None
    manual: bool  # decided by discussion
    parties: list[dict[str, Any]]


@router.post(
    "/{number}/responsibility/proposal",
    response_model=SplitProposalView,
    summary="The default split the factory's rules propose for these QC facts (§3.5); changes nothing",
)
async def split_proposal(
    number: Number,
    facts: b.QcFactsBody,
    request: Request,
    principal: Annotated[Principal, Depends(require("investigations:read"))],
) -> SplitProposalView:
    case = await case_of(_uow(request, principal), number)
    proposal = propose_split(facts.facts(), _policies(request).for_factory(case.factory))
    if proposal is None:
        return SplitProposalView(situation=None, source=None, manual=True, parties=[])
    parties = [{"kind": p.kind.value, "name": p.name, "role": p.role, "share": str(p.share)} for p in proposal.parties]
    return SplitProposalView(
        situation=proposal.situation, source=proposal.source, manual=proposal.manual, parties=parties
    )


@router.post(
    "/{number}/responsibility",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="责任判定: parties with shares (sum 100 %), accident class, loss, rule codes (§3.4-§3.5)",
)
async def responsibility(
    number: Number,
    body: b.ResponsibilityBody,
    request: Request,
    response: Response,
    principal: Work,
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.determine(
            Responsibility(
                sequence=0,
                parties=tuple(p.party() for p in body.parties),
                cause_class=body.cause_class,
                loss_amount=body.loss_amount,
                loss_class=LossClass.GENERAL,  # classed by the domain from the policy
                qc_facts=body.qc_facts.facts(),
                at=ctx.at,
                by=ctx.by,
                findings=tuple(f.finding() for f in body.findings),
                override_reason=body.override_reason,
                customer_may_end=body.customer_may_end,
                reputation_severe=body.reputation_severe,
            ),
            ctx.policy,
            reason=body.reason,
        )

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/dispute",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="异议: objection or market cause, within 2 hours of the classification (§3.6)",
)
async def dispute(
    number: Number,
    body: b.DisputeBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("investigations:dispute"))],
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.dispute(
            Dispute(kind=body.kind, department=body.department, reason=body.reason, at=ctx.at, by=ctx.by, against=0),
            ctx.policy,
        )

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/ruling",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="生产运营部 rules on the dispute; changed parties publish a new determination (§3.6)",
)
async def ruling(
    number: Number,
    body: b.RulingBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("investigations:rule"))],
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.rule(
            Ruling(upheld=body.upheld, at=ctx.at, by=ctx.by, reason=body.reason),
            ctx.policy,
            new_parties=tuple(p.party() for p in body.parties),
        )

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/actions",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="纠正预防措施: temporary and permanent actions with owner and due date (§3.7)",
)
async def actions(
    number: Number, body: b.ActionsBody, request: Request, response: Response, principal: Work, version: IfMatch = None
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.add_actions(
            (
                Action(
                    id="",
                    kind=a.kind,
                    description=a.description,
                    owner=a.owner,
                    due_at=a.due_at,
                    added_at=ctx.at,
                    added_by=ctx.by,
                )
                for a in body.actions
            ),
            reason=body.reason,
        )

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/verification",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="Effectiveness check lot by lot: verified after 3 consecutive clean lots (seed 001)",
)
async def verification(
    number: Number,
    body: b.VerificationBody,
    request: Request,
    response: Response,
    principal: Work,
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        checks = [
            LotCheck(lot.lot, lot.defect_found, b.not_after(lot.checked_at, ctx.at, "lots.checked_at"), ctx.by)
            for lot in body.lots
        ]
        case.verify(body.action_id, checks, ctx.policy, reason=body.reason)

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/standardisation",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="标准化: the documents updated after effective actions (seed 001 §5.9)",
)
async def standardisation(
    number: Number,
    body: b.StandardisationBody,
    request: Request,
    response: Response,
    principal: Work,
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.standardise(Standardisation(tuple(body.documents), ctx.at, ctx.by), reason=body.reason)

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/reply",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="回复: preliminary or final reply to the customer (§3.8)",
)
async def reply(
    number: Number,
    body: b.ReplyBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("investigations:reply"))],
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.reply(
            Reply(kind=body.kind, content=body.content, at=ctx.at, by=ctx.by, channel=body.channel), reason=body.reason
        )

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/follow_up",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="回访: the customer's satisfaction, and whether they accept (§3.8)",
)
async def follow_up(
    number: Number,
    body: b.FollowUpBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("investigations:reply"))],
    version: IfMatch = None,
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.follow_up(FollowUp(body.satisfied, body.accepted, ctx.at, ctx.by, body.note), reason=body.reason)

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/close",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="结案: refused while an action is open or unverified",
)
async def close(
    number: Number, body: b.CloseBody, request: Request, response: Response, principal: Work, version: IfMatch = None
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.close(at=ctx.at, by=ctx.by, reason=body.reason)

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/reopen",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="The customer does not accept: a new round with new deadlines (seed 002 (九) 9)",
)
async def reopen(
    number: Number, body: b.ReopenBody, request: Request, response: Response, principal: Work, version: IfMatch = None
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.reopen(ctx.policy, at=ctx.at, by=ctx.by, reason=body.reason)

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/onsite",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="现场: arrival, sheet faxed back (24 h), return, work report (3 days) (seed 000 §4.2.1)",
)
async def onsite(
    number: Number, body: b.OnsiteBody, request: Request, response: Response, principal: Work, version: IfMatch = None
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        case.record_onsite(body.what, ctx.policy, at=b.not_after(body.at, ctx.at, "at"), by=ctx.by, reason=body.reason)

    return await _take(request, response, principal, number, version, step)


@router.post(
    "/{number}/training",
    response_model=InvestigationView,
    responses=_STEP_RESPONSES,
    summary="车间培训 held after the complaint (within 15 days, seed 000 §4.2.1)",
)
async def training(
    number: Number, body: b.TrainingBody, request: Request, response: Response, principal: Work, version: IfMatch = None
) -> InvestigationView:
    def step(case: Case, ctx: StepContext) -> None:
        held = b.not_after(body.at, ctx.at, "at")
        case.record_training(Training(held, ctx.by, body.attendees, body.note), reason=body.reason)

    return await _take(request, response, principal, number, version, step)


REPORT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@router.get(
    "/{number}/8d",
    summary="The 8D report, customer or internal version, Chinese or English, as HTML or PDF",
    response_class=Response,
    responses={200: {"content": {media: {} for media in REPORT_TYPES.values()}}},
)
async def eight_d_report(
    number: Number,
    request: Request,
    principal: Annotated[Principal, Depends(require("investigations:read"))],
    version: Annotated[Literal["customer", "internal"], Query(description="customer: no internal data")] = "customer",
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
    format: Annotated[Literal["html", "pdf"], Query()] = "pdf",
) -> Response:
    case = await case_of(_uow(request, principal), number)
    zone = ZoneInfo(_policies(request).for_factory(case.factory).calendar.timezone)
    report = report_of(case, version=version, generated_at=request.app.state.clock.now(), zone=zone)
    render = render_pdf if format == "pdf" else render_html
    body = await anyio.to_thread.run_sync(render, report, lang)
    filename = f"{case.number}-8D-{version}-{lang}.{format}"
    headers = {"Content-Disposition": f'inline; filename="{filename}"', "ETag": version_etag(case.version)}
    return Response(body, media_type=REPORT_TYPES[format], headers=headers)
