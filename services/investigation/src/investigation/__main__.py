from pathlib import Path

from cqm_shared.cli import service_main
from investigation.config import InvestigationSettings

service_main(
    settings_factory=InvestigationSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    app_factory="investigation.main:create_app",
)
