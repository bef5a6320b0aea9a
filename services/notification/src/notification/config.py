"""Settings of the notification service (通知)."""

from pydantic import Field

from cqm_shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    port: int = 8004
    # The deadline timers and the external deliveries: polled by every replica, claimed under a lease.
    worker_poll_interval: float = Field(default=1.0, gt=0, description="longest sleep between passes (s)")
    worker_batch_size: int = Field(default=100, ge=1, le=5000)
    claim_lease_seconds: float = Field(default=60.0, gt=0, description="a dead replica's claims return after this")
    workers: bool = Field(default=True, description="run the timer and delivery workers in this process")
