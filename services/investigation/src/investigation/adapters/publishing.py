"""Domain events of investigation -> the public events it publishes (CONTRACT.md event table).

Every `investigation.*` event carries the case's version, state, round and deadlines
(`CaseStatus`), so consumers reconcile idempotently whatever order the events arrive in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from cqm_shared.contracts import events as public
from cqm_shared.contracts.complaint import Severity
from cqm_shared.domain import DomainEvent
from cqm_shared.uow import PublicEvent
from investigation.domain import events as ev
from investigation.domain.deadlines import Deadline
from investigation.domain.records import Party, Responsibility


def deadline(d: Deadline) -> public.Deadline:
    return public.Deadline(
        milestone=d.milestone,
        due_at=d.due_at,
        source=d.source,
        state=d.state.value,
        round=d.round,
        met_at=d.met_at,
        cancelled_at=d.cancelled_at,
    )


def _status(event: ev.CaseEvent) -> dict[str, Any]:
    return {
        "number": event.number,
        "factory": event.factory,
        "version": event.version,
        "state": event.state.value,
        "round": event.round,
        "deadlines": [deadline(d) for d in event.deadlines],
        "actor": event.actor,
        "reason": event.reason,
    }


def _party(p: Party) -> public.ResponsibleParty:
    return public.ResponsibleParty(
        kind=public.PartyKind(p.kind.value), name=p.name, department=p.department, role=p.role, share=p.share
    )


def _determined(event: ev.ResponsibilityDetermined) -> public.ResponsibilityDetermined:
    r: Responsibility = event.responsibility
    return public.ResponsibilityDetermined(
        **_status(event),
        determined_at=r.at,
        accident_class=public.AccidentClass(r.cause_class.value),
        loss_amount=r.loss_amount,
        parties=[_party(p) for p in r.parties],
        rule_codes=list(dict.fromkeys(f.code for f in r.findings)),
        determination=r.sequence,
        supersedes=event.supersedes,
        loss_class=r.loss_class.value,
        findings=[
            public.RuleFinding(
                code=f.code,
                occurrences=f.occurrences,
                pieces=f.pieces,
                party=f.party,
                product_stage=f.product_stage,
                degree=f.degree,
            )
            for f in r.findings
        ],
        charge_back=r.charge_back,
        dispute_window_ends_at=event.dispute_window_ends_at,
        split_situation=r.split_situation,
        override_reason=r.override_reason,
    )


def _payload(event: ev.CaseEvent) -> tuple[str, BaseModel] | None:
    status = _status(event)
    match event:
        case ev.CaseOpened():
            return public.INVESTIGATION_OPENED, public.InvestigationOpened(
                number=event.number,
                factory=event.factory,
                state=event.state.value,
                opened_at=event.at,
                deadlines=status["deadlines"],
                version=event.version,
            )
        case ev.CaseTriaged(triage=t):
            return public.INVESTIGATION_TRIAGED, public.InvestigationTriaged(
                **status,
                triaged_at=t.at,
                valid=t.valid,
                category=public.ComplaintCategory(t.category.value),
                severity=Severity(t.severity.value),
                our_fault=t.our_fault,
                special=t.special.value if t.special else None,
                responsible_department=t.responsible_department,
                dispatch=list(t.dispatch),
                ends_investigation=t.ends_investigation,
            )
        case ev.ContainmentRecorded(containment=c):
            return public.CONTAINMENT_RECORDED, public.ContainmentRecorded(
                **status,
                recorded_at=c.at,
                scope=[public.AffectedScope(kind=s.kind.value, quantity=s.quantity, note=s.note) for s in c.scope],
                dispositions=[d.value for d in c.dispositions],
                recall=c.recall.recall if c.recall else None,
                production_stop=c.production_stop,
            )
        case ev.RootCauseRecorded(root_cause=rc):
            return public.ROOT_CAUSE_RECORDED, public.RootCauseRecorded(
                **status, recorded_at=rc.at, occurrence_cause=rc.occurrence_cause, escape_cause=rc.escape_cause
            )
        case ev.ResponsibilityDetermined():
            return public.RESPONSIBILITY_DETERMINED, _determined(event)
        case ev.ResponsibilityDisputed(dispute=d):
            return public.RESPONSIBILITY_DISPUTED, public.ResponsibilityDisputed(
                **status, disputed_at=d.at, kind=d.kind.value, department=d.department, against=d.against
            )
        case ev.DisputeRuled(dispute=d) if d.ruling is not None:
            return public.DISPUTE_RULED, public.DisputeRuled(
                **status,
                ruled_at=d.ruling.at,
                kind=d.kind.value,
                upheld=d.ruling.upheld,
                department=d.department,
                determination=d.ruling.determination,
                responsibility_cleared=event.responsibility_cleared,
            )
        case ev.ActionsAdded(actions=actions):
            return public.ACTION_ADDED, public.ActionAdded(
                **status,
                added_at=event.at,
                actions=[
                    public.CorrectiveAction(
                        id=a.id, kind=a.kind.value, description=a.description, owner=a.owner, due_at=a.due_at
                    )
                    for a in actions
                ],
            )
        case ev.ActionChecked(checked=a):
            return public.ACTION_VERIFIED, public.ActionVerified(
                **status,
                action_id=a.id,
                checked_at=event.at,
                lots=[public.LotResult(lot=c.lot, defect_found=c.defect_found, checked_at=c.at) for c in a.lots],
                clean_lots=a.clean_run(),
                clean_lots_required=event.clean_lots_required,
                verified=a.verified,
            )
        case ev.CustomerReplied(reply=r):
            return public.CUSTOMER_REPLIED, public.CustomerReplied(**status, replied_at=r.at, kind=r.kind.value)
        case ev.CaseClosed():
            return public.INVESTIGATION_CLOSED, public.InvestigationClosed(
                **status, closed_at=event.at, outcome=event.outcome
            )
        case ev.CaseReopened():
            return public.INVESTIGATION_REOPENED, public.InvestigationReopened(**status, reopened_at=event.at)
    return public.INVESTIGATION_UPDATED, public.InvestigationUpdated(
        **status, updated_at=event.at, step=event.action, detail=_detail(event)
    )


def _detail(event: ev.CaseEvent) -> dict[str, Any]:
    match event:
        case ev.OnsiteRecorded(what=what):
            return {"onsite": what}
        case ev.TrainingRecorded(training=t):
            return {"attendees": t.attendees}
        case ev.Standardised(standardisation=s):
            return {"documents": list(s.documents)}
        case ev.FollowedUp(follow_up=f):
            return {"satisfied": f.satisfied, "accepted": f.accepted}
        case ev.ComplaintUpdated(changed=changed, rescheduled=rescheduled):
            return {"changed": list(changed), "rescheduled": list(rescheduled)}
    return {}


def to_public(event: DomainEvent) -> Sequence[PublicEvent]:
    if not isinstance(event, ev.CaseEvent):
        return ()
    found = _payload(event)
    if found is None:
        return ()
    event_type, data = found
    return (PublicEvent(event_type, event.factory, event.number, data),)


# Every type investigation publishes, with its payload model (the runtime checks them).
PUBLISHES: dict[str, type[BaseModel]] = {
    public.INVESTIGATION_OPENED: public.InvestigationOpened,
    public.INVESTIGATION_TRIAGED: public.InvestigationTriaged,
    public.CONTAINMENT_RECORDED: public.ContainmentRecorded,
    public.ROOT_CAUSE_RECORDED: public.RootCauseRecorded,
    public.RESPONSIBILITY_DETERMINED: public.ResponsibilityDetermined,
    public.RESPONSIBILITY_DISPUTED: public.ResponsibilityDisputed,
    public.DISPUTE_RULED: public.DisputeRuled,
    public.ACTION_ADDED: public.ActionAdded,
    public.ACTION_VERIFIED: public.ActionVerified,
    public.CUSTOMER_REPLIED: public.CustomerReplied,
    public.INVESTIGATION_CLOSED: public.InvestigationClosed,
    public.INVESTIGATION_REOPENED: public.InvestigationReopened,
    public.INVESTIGATION_UPDATED: public.InvestigationUpdated,
}
