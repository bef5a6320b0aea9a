"""Settings of the investigation service (调查)."""

from cqm_shared.settings import ServiceSettings


class InvestigationSettings(ServiceSettings):
    service_name: str = "investigation"
    port: int = 8002
