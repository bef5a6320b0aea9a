from pathlib import Path

from cqm_shared.cli import service_main
from penalty.config import PenaltySettings

service_main(
    settings_factory=PenaltySettings,
    migrations_dir=Path(__file__).parent / "migrations",
    app_factory="penalty.main:create_app",
)
