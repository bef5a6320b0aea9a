"""HTTP API of penalty: assessments and their workflow, the monthly ledger with its CSV/XLSX
exports, and the factories' rule tables.

Money and points are decimal strings in JSON ("1200.50"), as everywhere in the suite. A record of
a factory the caller may not see answers 404, as if it did not exist. While a factory runs on
illustrative coefficients every ledger answer says so (`illustrative_rules`, a warning in Chinese
and English, and the `X-Illustrative-Rules` header).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.convertors import Convertor, register_url_convertor

from cqm_shared.domain import InvalidInput
from cqm_shared.policy import PolicyError, UnknownFactory
from cqm_shared.problems import problem
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal
from cqm_shared.web import expected_version, version_etag
from penalty.adapters import exports
from penalty.adapters.rule_book import RuleBook
from penalty.domain.ledger import CycleDeadline, LedgerEntry, Totals
from penalty.domain.model import Assessment, AssessmentStatus
from penalty.domain.organisation import Organisation
from penalty.domain.policy import Approvers, MonthlyCycle, Rounding, Rule
from penalty.domain.terms import Breach, Determination, LineItem, LineKind
from penalty.service import handlers
from penalty.service.handlers import Ledger, NotPermitted
from penalty.service.unit_of_work import PenaltyUnitOfWork

router = APIRouter()

ILLUSTRATIVE_HEADER = "X-Illustrative-Rules"
PERIOD = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
FACTORY = r"^[A-Z][A-Z0-9]{1,9}$"


class _FactoryCode(Convertor[str]):
    """Routes `/api/v1/rules/{factory}` only for a factory code, so `GET /api/v1/rules/reload`
    is the reload route's 405, not a read of a factory named "reload"."""

    regex = FACTORY[1:-1]

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("factory_code", _FactoryCode())


def _uow(request: Request, principal: Principal) -> PenaltyUnitOfWork:
    uow: PenaltyUnitOfWork = request.app.state.units_of_work(principal.as_actor(), None)
    return uow


def _rules(request: Request) -> RuleBook:
    rules: RuleBook = request.app.state.rules
    return rules


@contextmanager
def _refusals() -> Iterator[None]:
    """The use cases' refusals that are not domain errors, as problem details."""
    try:
        yield
    except NotPermitted as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except UnknownFactory as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no factory {exc}") from None


def _version(header: int | None, body: int | None) -> int | None:
    """The version the caller read: If-Match or the body's `expected_version` (they must agree)."""
    if header is not None and body is not None and header != body:
        raise InvalidInput(f"If-Match ({header}) and expected_version ({body}) disagree", field="expected_version")
    return body if body is not None else header


# -- views --------------------------------------------------------------------------------------


class PayeeView(BaseModel):
    kind: str  # person / department / supplier / role (not resolved: HR finds the person)
    id: str
    name: str


class LineView(BaseModel):
    position: int  # what an appeal or a decision names the line by
    rule_code: str
    kind: str  # fine / points / charge_back / exempt / commission_cancelled
    role: str
    payee: PayeeView
    department: str | None
    party: str | None
    basis: str  # how it was computed, e.g. "3 time(s) × 50"
    amount: Decimal
    points: Decimal
    points_ledger: str | None
    unresolved: bool
    illustrative: bool
    original_amount: Decimal | None  # before the appeal decision changed it
    note: str

    @classmethod
    def of(cls, position: int, line: LineItem) -> LineView:
        return cls(
            position=position,
            rule_code=line.rule_code,
            kind=line.kind.value,
            role=line.role,
            payee=PayeeView(kind=line.payee.kind.value, id=line.payee.id, name=line.payee.name),
            department=line.department,
            party=line.party,
            basis=line.basis,
            amount=line.amount,
            points=line.points,
            points_ledger=line.points_ledger,
            unresolved=line.unresolved,
            illustrative=line.illustrative,
            original_amount=line.original_amount,
            note=line.note,
        )


class AssessmentTotalsView(BaseModel):
    fines: Decimal
    charge_backs: Decimal
    performance_points: Decimal
    management_points: Decimal
    unresolved_lines: int

    @classmethod
    def of(cls, lines: tuple[LineItem, ...]) -> AssessmentTotalsView:
        def money(kind: LineKind) -> Decimal:
            return sum((x.amount for x in lines if x.kind is kind), Decimal(0))

        def points(ledger: str) -> Decimal:
            found = (
                x.points for x in lines if x.kind is LineKind.POINTS and (x.points_ledger or "performance") == ledger
            )
            return sum(found, Decimal(0))

        return cls(
            fines=money(LineKind.FINE),
            charge_backs=money(LineKind.CHARGE_BACK),
            performance_points=points("performance"),
            management_points=points("management"),
            # as the ledger counts them: fines and points addressed to a role, for HR to resolve
            unresolved_lines=sum(1 for x in lines if x.unresolved and x.kind in (LineKind.FINE, LineKind.POINTS)),
        )


class PartyView(BaseModel):
    kind: str
    name: str
    share: Decimal  # percent
    department: str | None
    role: str | None


class FindingView(BaseModel):
    code: str
    occurrences: int
    pieces: int
    party: str | None
    product_stage: str
    degree: str


class DeterminationView(BaseModel):
    """The responsibility determination (责任判定) the assessment is for."""

    sequence: int
    determined_at: datetime
    accident_class: str
    loss_amount: Decimal  # the compensation (客诉赔偿额), CNY
    parties: list[PartyView]
    findings: list[FindingView]
    rule_codes: list[str]
    order_number: str | None

    @classmethod
    def of(cls, d: Determination) -> DeterminationView:
        return cls(
            sequence=d.sequence,
            determined_at=d.determined_at,
            accident_class=d.accident_class.value,
            loss_amount=d.loss_amount,
            parties=[
                PartyView(kind=p.kind, name=p.name, share=p.share, department=p.department, role=p.role)
                for p in d.parties
            ],
            findings=[
                FindingView(
                    code=f.code,
                    occurrences=f.occurrences,
                    pieces=f.pieces,
                    party=f.party,
                    product_stage=f.product_stage.value,
                    degree=f.degree.value,
                )
                for f in d.findings
            ],
            rule_codes=list(d.rule_codes),
            order_number=d.order_number,
        )


class BreachView(BaseModel):
    """The SLA milestone missed, for a process penalty."""

    milestone: str
    round: int
    due_at: datetime
    breached_at: datetime
    department: str | None

    @classmethod
    def of(cls, b: Breach) -> BreachView:
        return cls(
            milestone=b.milestone, round=b.round, due_at=b.due_at, breached_at=b.breached_at, department=b.department
        )


class AppealView(BaseModel):
    by: str
    at: datetime
    reason: str
    lines: list[int]  # the contested positions; empty: the whole assessment


class DecisionView(BaseModel):
    by: str
    at: datetime
    upheld: bool
    reason: str
    amounts: dict[int, Decimal]  # line position -> decided amount


class DeadlineView(BaseModel):
    milestone: str
    due_at: datetime
    source: str  # the clause of the monthly cycle
    state: str  # pending / met / cancelled
    met_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, d: CycleDeadline) -> DeadlineView:
        return cls(
            milestone=d.milestone.value,
            due_at=d.due_at,
            source=d.source,
            state=d.state,
            met_at=d.met_at,
            cancelled_at=d.cancelled_at,
        )


class AssessmentView(BaseModel):
    id: str
    number: str  # the complaint
    factory: str
    status: str  # draft / appealed / approved / superseded / void
    version: int
    period: str  # yyyy-mm of the ledger it counts in
    adjustment: bool  # counted in a later period because its own was closed
    reversal_period: str | None
    superseded_by: str | None
    policy_version: str  # rule table version # digest of the policy it was computed with
    received_at: datetime
    illustrative: bool
    warnings: list[str]
    lines: list[LineView]
    totals: AssessmentTotalsView
    determination: DeterminationView | None
    breach: BreachView | None
    appeal: AppealView | None
    decision: DecisionView | None
    approved_by: str | None
    approved_at: datetime | None
    deadlines: list[DeadlineView]
    allowed_actions: list[str]  # what the assessment's state allows now; the others answer 409

    @classmethod
    def of(cls, a: Assessment) -> AssessmentView:
        appeal, decision = a.appeal, a.decision
        return cls(
            id=a.id,
            number=a.number,
            factory=a.factory,
            status=a.status.value,
            version=a.version,
            period=a.period,
            adjustment=a.adjustment,
            reversal_period=a.reversal_period,
            superseded_by=a.superseded_by,
            policy_version=a.policy_version,
            received_at=a.received_at,
            illustrative=a.illustrative,
            warnings=list(a.warnings),
            lines=[LineView.of(i, line) for i, line in enumerate(a.lines)],
            totals=AssessmentTotalsView.of(a.lines),
            determination=DeterminationView.of(a.determination) if a.determination else None,
            breach=BreachView.of(a.breach) if a.breach else None,
            appeal=AppealView(by=appeal.by, at=appeal.at, reason=appeal.reason, lines=list(appeal.lines))
            if appeal
            else None,
            decision=DecisionView(
                by=decision.by,
                at=decision.at,
                upheld=decision.upheld,
                reason=decision.reason,
                amounts=dict(decision.amounts),
            )
            if decision
            else None,
            approved_by=a.approved_by,
            approved_at=a.approved_at,
            deadlines=[DeadlineView.of(d) for d in a.deadlines],
            allowed_actions=a.allowed_actions(),
        )


# -- assessments --------------------------------------------------------------------------------

IfMatch = Annotated[int | None, Depends(expected_version)]
AssessmentId = Annotated[str, Path(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=2000, description="why: kept in the audit trail")]
ExpectedVersion = Annotated[
    int | None, Field(ge=0, description="the version read (or send it as If-Match); 409 if it changed since")
]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Position = Annotated[int, Field(ge=0, le=10_000)]

_ETAG_DOC = {
    "headers": {
        "ETag": {
            "description": 'the assessment version, e.g. "3": send it back as If-Match to change it',
            "schema": {"type": "string"},
        }
    }
}
_WORKFLOW_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _ETAG_DOC,
    403: {"description": "the role may not, or the factory's policy gives this decision to another role"},
    409: {
        "description": "the assessment's state does not allow it (e.g. approval while an appeal is pending), "
        "or it changed since the version in If-Match / expected_version"
    },
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppealBody(_Body):
    """申诉 to the general manager (seed 002 篇二 §四.9)."""

    lines: list[Position] = Field(default_factory=list, max_length=500, description="contested positions; [] = all")
    reason: Reason
    expected_version: ExpectedVersion = None


class DecisionBody(_Body):
    """The general manager's decision: dismissed, or upheld with the decided amount of each line."""

    upheld: bool
    amounts: dict[Position, Amount] = Field(
        default_factory=dict, max_length=500, description="line position -> decided amount (upheld only)"
    )
    reason: Reason
    expected_version: ExpectedVersion = None


class ApprovalBody(_Body):
    """生产运营部签准: final, published to HR and finance."""

    reason: Annotated[str, Field(max_length=2000)] = ""
    expected_version: ExpectedVersion = None


@router.get(
    "/api/v1/assessments",
    response_model=list[AssessmentView],
    tags=["assessments"],
    summary="A complaint's assessments (line items with rule codes and amounts), or a search",
)
async def list_assessments(
    request: Request,
    principal: Annotated[Principal, Depends(require("assessments:read"))],
    complaint: Annotated[str | None, Query(min_length=1, max_length=32, description="a complaint number")] = None,
    factory: Annotated[str | None, Query(max_length=10)] = None,
    period: Annotated[str | None, Query(pattern=PERIOD, description="the ledger month, yyyy-mm")] = None,
    status_: Annotated[AssessmentStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[AssessmentView]:
    """With `complaint`: every assessment of that complaint, oldest first (the other filters
    narrow it). Without: the assessments of the factories the caller sees, newest first."""
    uow = _uow(request, principal)
    if complaint is not None:
        found = [
            a
            for a in await handlers.assessments_of(uow, complaint)
            if (factory is None or a.factory == factory)
            and (period is None or a.period == period)
            and (status_ is None or a.status is status_)
        ][offset : offset + limit]
    else:
        found = await handlers.search(uow, factory=factory, period=period, status=status_, limit=limit, offset=offset)
    return [AssessmentView.of(a) for a in found]


@router.get(
    "/api/v1/assessments/{assessment_id}",
    response_model=AssessmentView,
    tags=["assessments"],
    summary="One assessment with its line items, deadlines and allowed actions",
    responses={200: _ETAG_DOC},
)
async def read_assessment(
    assessment_id: AssessmentId,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("assessments:read"))],
) -> AssessmentView:
    found = await handlers.assessment(_uow(request, principal), assessment_id)
    response.headers["ETag"] = version_etag(found.version)
    return AssessmentView.of(found)


def _answer(response: Response, a: Assessment) -> AssessmentView:
    response.headers["ETag"] = version_etag(a.version)
    return AssessmentView.of(a)


@router.post(
    "/api/v1/assessments/{assessment_id}/appeal",
    response_model=AssessmentView,
    tags=["assessments"],
    responses=_WORKFLOW_RESPONSES,
    summary="申诉: appeal a draft (some lines or all) to the general manager",
)
async def appeal(
    assessment_id: AssessmentId,
    body: AppealBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("assessments:appeal"))],
    version: IfMatch = None,
) -> AssessmentView:
    found = await handlers.appeal(
        _uow(request, principal),
        assessment_id,
        lines=tuple(body.lines),
        reason=body.reason,
        expected_version=_version(version, body.expected_version),
    )
    return _answer(response, found)


@router.post(
    "/api/v1/assessments/{assessment_id}/decision",
    response_model=AssessmentView,
    tags=["assessments"],
    responses=_WORKFLOW_RESPONSES,
    summary="The general manager decides the appeal; the assessment returns to draft",
)
async def decide_appeal(
    assessment_id: AssessmentId,
    body: DecisionBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("assessments:decide"))],
    version: IfMatch = None,
) -> AssessmentView:
    with _refusals():
        found = await handlers.decide_appeal(
            _uow(request, principal),
            _rules(request),
            assessment_id,
            roles=principal.roles,
            upheld=body.upheld,
            amounts=dict(body.amounts),
            reason=body.reason,
            expected_version=_version(version, body.expected_version),
        )
    return _answer(response, found)


@router.post(
    "/api/v1/assessments/{assessment_id}/approval",
    response_model=AssessmentView,
    tags=["assessments"],
    responses=_WORKFLOW_RESPONSES,
    summary="生产运营部签准: approve a draft (final; to HR and finance)",
)
async def approve(
    assessment_id: AssessmentId,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("assessments:approve"))],
    version: IfMatch = None,
    body: Annotated[ApprovalBody | None, Body()] = None,
) -> AssessmentView:
    body = body or ApprovalBody()
    with _refusals():
        found = await handlers.approve(
            _uow(request, principal),
            _rules(request),
            assessment_id,
            roles=principal.roles,
            reason=body.reason,
            expected_version=_version(version, body.expected_version),
        )
    return _answer(response, found)


# -- the monthly ledger -------------------------------------------------------------------------


class WarningView(BaseModel):
    zh: str
    en: str


def _warning(codes: list[str]) -> WarningView | None:
    found = exports.illustrative_warning(codes)
    return WarningView(zh=found[0], en=found[1]) if found else None


class LedgerTotalsView(BaseModel):
    compensation: Decimal  # 客诉赔偿额 of the period's determinations
    fines: Decimal
    charge_backs: Decimal  # suppliers' shares, outside the internal ledger
    cost_of_poor_quality: Decimal  # compensation + fines + charge-backs
    performance_points: Decimal
    management_points: Decimal


class DepartmentTotalsView(BaseModel):
    department: str
    fines: Decimal
    performance_points: Decimal
    management_points: Decimal
    lines: int


class PersonTotalsView(BaseModel):
    id: str
    name: str
    fines: Decimal
    performance_points: Decimal
    management_points: Decimal
    lines: int


class SupplierView(BaseModel):
    name: str
    charge_back: Decimal


class EntryView(BaseModel):
    assessment_id: str
    number: str  # the complaint
    status: str
    adjustment: bool  # an adjustment (landed late, or the reversal of a replaced assessment)
    line: LineView

    @classmethod
    def of(cls, position: int, e: LedgerEntry) -> EntryView:
        return cls(
            assessment_id=e.assessment_id,
            number=e.number,
            status=e.status,
            adjustment=e.adjustment,
            line=LineView.of(position, e.line),
        )


class LedgerView(BaseModel):
    factory: str
    period: str
    state: Literal["open", "closed"]
    closed_at: datetime | None
    closed_by: str | None
    currency: str
    illustrative_rules: list[str]  # rules of the factory still on illustrative coefficients
    warning: WarningView | None  # said while illustrative_rules is not empty
    totals: LedgerTotalsView
    departments: list[DepartmentTotalsView]
    people: list[PersonTotalsView]
    suppliers: list[SupplierView]
    unresolved: int  # lines addressed to a role, for HR to resolve to a person
    pending: int  # assessments not approved yet: the period cannot close while any is
    entries: list[EntryView]

    @classmethod
    def of(cls, book: Ledger, currency: str) -> LedgerView:
        t = book.totals
        state = book.period_state

        def totals(x: Totals) -> dict[str, Any]:
            return {
                "fines": x.fines,
                "performance_points": x.performance_points,
                "management_points": x.management_points,
                "lines": x.lines,
            }

        positions: dict[str, int] = {}  # the line's position in its assessment
        entries = []
        for e in book.entries:
            positions[e.assessment_id] = positions.get(e.assessment_id, -1) + 1
            entries.append(EntryView.of(positions[e.assessment_id], e))
        return cls(
            factory=book.factory,
            period=book.period,
            state="closed" if book.closed else "open",
            closed_at=state.closed_at if state else None,
            closed_by=state.closed_by if state else None,
            currency=currency,
            illustrative_rules=list(book.illustrative_rules),
            warning=_warning(book.illustrative_rules),
            totals=LedgerTotalsView(
                compensation=t.compensation,
                fines=t.fines,
                charge_backs=t.charge_backs,
                cost_of_poor_quality=t.cost_of_poor_quality,
                performance_points=t.performance_points,
                management_points=t.management_points,
            ),
            departments=[
                DepartmentTotalsView(department=name, **totals(x)) for name, x in sorted(t.departments.items())
            ],
            people=[
                PersonTotalsView(id=person_id, name=name, **totals(x))
                for (person_id, name), x in sorted(t.people.items())
            ],
            suppliers=[SupplierView(name=name, charge_back=amount) for name, amount in sorted(t.suppliers.items())],
            unresolved=t.unresolved,
            pending=t.pending,
            entries=entries,
        )


Factory = Annotated[str, Path(pattern=FACTORY, description="factory code, e.g. F01")]
Period = Annotated[str, Path(pattern=PERIOD, description="the month, yyyy-mm")]
LedgerFormat = Literal["json", "csv", "xlsx"]
MEDIA_TYPES: dict[str, LedgerFormat] = {  # a wildcard means the default, JSON
    "*/*": "json",
    "application/*": "json",
    "application/json": "json",
    "text/*": "csv",
    "text/csv": "csv",
    exports.XLSX_MEDIA_TYPE: "xlsx",
}
_ILLUSTRATIVE_DOC = {
    ILLUSTRATIVE_HEADER: {
        "description": "the factory's rules still on illustrative coefficients, comma-separated; `none` when none",
        "schema": {"type": "string"},
    }
}
_LEDGER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": _ILLUSTRATIVE_DOC,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _negotiate(requested: LedgerFormat | None, accept: str | None) -> LedgerFormat:
    """`?format=` wins; else the Accept header's preferred type among JSON, CSV and XLSX."""
    if requested is not None:
        return requested
    offers: list[tuple[float, int, LedgerFormat]] = []
    for order, part in enumerate((accept or "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        found = MEDIA_TYPES.get(media.lower())
        if found is not None and quality > 0:
            offers.append((-quality, order, found))
    return min(offers)[2] if offers else "json"


def _illustrative_header(codes: list[str]) -> str:
    return quote(",".join(codes), safe=",.-_~") if codes else "none"


async def _ledger_answer(book: Ledger, request: Request, response: Response, fmt: LedgerFormat) -> Any:
    with _refusals():
        currency = _rules(request).for_factory(book.factory).policy.currency
    header = _illustrative_header(book.illustrative_rules)
    if fmt == "json":
        response.headers[ILLUSTRATIVE_HEADER] = header
        return LedgerView.of(book, currency)
    warning = exports.illustrative_warning(book.illustrative_rules)
    if fmt == "csv":
        content = await anyio.to_thread.run_sync(exports.ledger_csv, book, warning)
        media = exports.CSV_MEDIA_TYPE
    else:
        content = await anyio.to_thread.run_sync(exports.ledger_xlsx, book, warning, currency)
        media = exports.XLSX_MEDIA_TYPE
    filename = f"ledger-{book.factory}-{book.period}.{fmt}"
    headers = {ILLUSTRATIVE_HEADER: header, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type=media, headers=headers)


@router.get(
    "/api/v1/ledger/{factory}/{period}",
    response_model=LedgerView,
    tags=["ledger"],
    responses=_LEDGER_RESPONSES,
    summary="The monthly ledger (月度考核台账): totals per department and person, points, charge-backs",
)
async def read_ledger(
    factory: Factory,
    period: Period,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("ledger:read"))],
    format: Annotated[LedgerFormat | None, Query(description="json, csv or xlsx (else from Accept)")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """JSON, or as a file for HR and finance: CSV (UTF-8 with BOM) or XLSX (`?format=` or the
    Accept header: `text/csv`, `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`).
    Cost of poor quality = compensation + fines + charge-backs."""
    with _refusals():
        book = await handlers.ledger(_uow(request, principal), _rules(request), factory, period)
    return await _ledger_answer(book, request, response, _negotiate(format, accept))


class CloseBody(_Body):
    reason: Reason


@router.post(
    "/api/v1/ledger/{factory}/{period}/close",
    response_model=LedgerView,
    tags=["ledger"],
    responses={
        200: {"headers": _ILLUSTRATIVE_DOC},
        409: {"description": "the period is closed already, or assessments of it are not approved yet"},
    },
    summary="Close the month: immutable from now on; later corrections land in the next month",
)
async def close_ledger(
    factory: Factory,
    period: Period,
    body: CloseBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require("ledger:close"))],
) -> Any:
    with _refusals():
        book = await handlers.close_period(
            _uow(request, principal), _rules(request), factory, period, reason=body.reason
        )
    return await _ledger_answer(book, request, response, "json")


# -- rule tables --------------------------------------------------------------------------------


class RuleTableView(BaseModel):
    version: str
    effective_from: date  # factory-local date from which it applies
    source: str
    in_force: bool  # the version that applies now
    rules: dict[str, Rule]


class RulesView(BaseModel):
    factory: str
    digest: str  # of the validated policy and directory, recorded on every assessment
    timezone: str
    currency: str
    rounding: Rounding
    approvers: Approvers  # the roles that approve and that decide appeals
    monthly_cycle: MonthlyCycle
    in_force: str | None  # the version that applies now (None: none in force yet)
    versions: list[RuleTableView]  # oldest first
    illustrative_rules: list[str]
    warning: WarningView | None
    organisation: Organisation  # who the rules' roles resolve to


@router.get(
    "/api/v1/rules/{factory:factory_code}",
    response_model=RulesView,
    tags=["rules"],
    summary="The factory's rule table versions, the one in force, digest and organisation directory",
)
async def read_rules(
    factory: Factory,
    request: Request,
    principal: Annotated[Principal, Depends(require("rules:read"))],
) -> RulesView:
    if not principal.can_see(factory):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no factory {factory}")
    with _refusals():
        found = _rules(request).for_factory(factory)
    policy = found.policy
    now: datetime = request.app.state.runtime.clock.now()
    try:
        in_force: str | None = policy.table_at(now)[0]
    except LookupError:
        in_force = None
    versions = sorted(policy.rule_tables.items(), key=lambda item: item[1].effective_from)
    return RulesView(
        factory=factory,
        digest=found.digest,
        timezone=policy.timezone,
        currency=policy.currency,
        rounding=policy.rounding,
        approvers=policy.approvers,
        monthly_cycle=policy.monthly_cycle,
        in_force=in_force,
        versions=[
            RuleTableView(
                version=name,
                effective_from=table.effective_from,
                source=table.source,
                in_force=name == in_force,
                rules=dict(table.rules),
            )
            for name, table in versions
        ],
        illustrative_rules=policy.illustrative_rules,
        warning=_warning(policy.illustrative_rules),
        organisation=found.organisation,
    )


class FactoryRulesView(BaseModel):
    factory: str
    digest: str
    illustrative_rules: list[str]


class ReloadView(BaseModel):
    factories: list[FactoryRulesView]


@router.post(
    "/api/v1/rules/reload",
    response_model=ReloadView,
    tags=["rules"],
    responses={422: {"description": "a policy file is invalid (file:line named); the tables in force stay"}},
    summary="Re-read the policy files; nothing changes unless every file is valid",
)
async def reload_rules(
    request: Request,
    principal: Annotated[Principal, Depends(require("rules:reload"))],
) -> Any:
    try:
        fresh = await anyio.to_thread.run_sync(_rules(request).reload)
    except PolicyError as exc:
        text = str(exc)
        errors = [{"field": "policy", "message": line, "type": "policy_error"} for line in text.splitlines()[1:]]
        return problem(
            422,
            "Unprocessable Content",
            text,
            errors=errors or [{"field": "policy", "message": text, "type": "policy_error"}],
        )
    return ReloadView(
        factories=[
            FactoryRulesView(factory=f, digest=r.digest, illustrative_rules=r.policy.illustrative_rules)
            for f, r in sorted(fresh.items())
        ]
    )
