"""Settings of the penalty service (考核/处罚)."""

from cqm_shared.settings import ServiceSettings


class PenaltySettings(ServiceSettings):
    service_name: str = "penalty"
    port: int = 8003
