"""Settings of the intake service (受理)."""

from cqm_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001
