"""The 8D report of a case: what the case recorded, copied into the report's D0-D8 sections."""

from __future__ import annotations

from datetime import datetime, tzinfo

from investigation.domain import report as r
from investigation.domain.model import Case
from investigation.domain.records import Action, ActionKind, PartyKind


def _local(moment: datetime | None, zone: tzinfo) -> datetime | None:
    return moment.astimezone(zone) if moment is not None else None


def _action(action: Action, zone: tzinfo) -> r.Action:
    state = "verified" if action.verified else ("in_progress" if action.lots else "open")
    return r.Action(
        description=action.description,
        owner=action.owner,
        due=action.due_at.astimezone(zone).date(),
        state=state,
        completed_on=action.verified_at.astimezone(zone).date() if action.verified_at else None,
    )


def report_of(case: Case, *, version: r.ReportVersion, generated_at: datetime, zone: tzinfo) -> r.EightDReport:
    """The customer or the internal version; times in the factory's time zone."""
    rec = case.records
    c = case.complaint
    triage, containment, cause, resp = rec.triage, rec.containment, rec.root_cause, rec.responsibility
    scope = tuple(
        r.ScopeLine(
            location=s.kind.value,
            quantity=s.quantity,
            disposition=", ".join(d.value for d in containment.dispositions) if containment else None,
            note=s.note or None,
        )
        for s in (containment.scope if containment else ())
    )
    fishbone: dict[r.FishboneCategory, tuple[str, ...]] = {}
    for item in cause.fishbone if cause else ():
        fishbone[item.category.value] = (*fishbone.get(item.category.value, ()), item.cause)
    temporary = tuple(_action(a, zone) for a in rec.actions if a.kind is ActionKind.TEMPORARY)
    permanent = tuple(_action(a, zone) for a in rec.actions if a.kind is ActionKind.PERMANENT)
    lots = tuple(
        r.LotResult(lot=f"{a.id} · {lot.lot}", checked_at=_local(lot.at, zone), defect_found=lot.defect_found)
        for a in rec.actions
        for lot in a.lots
    )
    verdict = None
    if rec.actions:
        verdict = "effective" if all(a.verified for a in rec.actions) else "pending"
    final = next((reply for reply in reversed(rec.replies) if reply.kind.value == "final"), None)
    internal = None
    if version == "internal":
        last_dispute = rec.disputes[-1] if rec.disputes else None
        internal = r.InternalSection(
            parties=tuple(
                r.ResponsibleParty(
                    name=p.department or p.name,
                    share=p.share,
                    kind=p.kind.value,
                    person=p.name if p.kind is PartyKind.PERSON else None,
                    role=p.role,
                )
                for p in (resp.parties if resp else ())
            ),
            accident_class=resp.cause_class.value if resp else None,
            loss_amount=resp.loss_amount if resp else None,
            rule_codes=tuple(dict.fromkeys(f.code for f in resp.findings)) if resp else (),
            dispute=r.Dispute(
                raised_by=last_dispute.department,
                raised_at=_local(last_dispute.at, zone),
                reason=last_dispute.reason,
                ruling=(last_dispute.ruling.reason if last_dispute.ruling else None),
                ruled_by=(last_dispute.ruling.by if last_dispute.ruling else None),
                ruled_at=_local(last_dispute.ruling.at, zone) if last_dispute.ruling else None,
            )
            if last_dispute
            else None,
            history=tuple(
                r.HistoryEntry(at=t.at.astimezone(zone), actor=t.actor, action=t.action, note=t.reason or None)
                for t in case.history
            ),
        )
    return r.EightDReport(
        number=case.number,
        factory=case.factory,
        version=version,
        generated_at=generated_at.astimezone(zone),
        customer_company=c.customer_company,
        product_model=c.product_model,
        part_number=c.part_number,
        phenomenon=c.phenomenon,
        received_at=c.received_at.astimezone(zone),
        severity=triage.severity.value if triage else None,
        category=triage.category.value if triage else None,
        emergency_response=(containment.actions or None) if containment else None,
        scope=scope,
        team=tuple(r.TeamMember(name=name) for name in (cause.team if cause else ())),
        problem=r.ProblemDescription(description=(cause.problem if cause and cause.problem else c.phenomenon)),
        containment=temporary,
        root_cause=r.RootCause(
            occurrence=cause.occurrence_cause if cause else None,
            escape=cause.escape_cause if cause else None,
            five_whys=cause.why_chains if cause else (),
            fishbone=fishbone,
        ),
        corrective_actions=permanent,
        validation=r.Validation(lots=lots, verdict=verdict),
        prevention=r.Prevention(
            text=(cause.prevention or None) if cause else None,
            documents=tuple(r.StandardisedDocument(title=d) for d in rec.standardisation.documents)
            if rec.standardisation
            else (),
        ),
        closure=r.Closure(closed_at=_local(case.closed_at, zone), text=final.content if final else None),
        internal=internal,
    )
