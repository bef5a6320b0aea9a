"""Registering a complaint (受理): its number and its record. Pure: no I/O.

Numbering (seed 002 (八), seed 000 第八条): factory + year + month + serial, the serial
restarting every month, e.g. `F01-2611-0007`. Which serial comes next is decided by the
persistence layer under a lock; this module only says how the number reads.
"""

from __future__ import annotations

from datetime import datetime

from cqm_shared.contracts.complaint import ComplaintForm, ComplaintRecord, ComplaintStatus
from intake.domain.policy import IntakePolicy


def numbering_period(registered_at: datetime, policy: IntakePolicy) -> str:
    """`YYMM` of the factory's local calendar month at registration."""
    if registered_at.tzinfo is None:
        raise ValueError("registered_at must be timezone-aware")
    return registered_at.astimezone(policy.zone).strftime("%y%m")


def complaint_number(factory: str, period: str, serial: int, policy: IntakePolicy) -> str:
    if serial < 1:
        raise ValueError("serials start at 1")
    return f"{factory}-{period}-{serial:0{policy.serial_digits}d}"


def register(form: ComplaintForm, *, number: str, registered_at: datetime) -> ComplaintRecord:
    """The registered record: the form as given, plus number, status and derived values."""
    data = form.model_dump()
    data.update(
        number=number,
        status=ComplaintStatus.REGISTERED,
        received_at=form.received_at or registered_at,
        registered_at=registered_at,
        defect_rate=form.product.defect_rate,
    )
    return ComplaintRecord.model_validate(data)
