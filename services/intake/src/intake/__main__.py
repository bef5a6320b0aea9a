from pathlib import Path

from cqm_shared.cli import service_main
from intake.config import IntakeSettings

service_main(
    settings_factory=IntakeSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    app_factory="intake.main:create_app",
)
