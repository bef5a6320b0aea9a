import sys
from pathlib import Path

from cqm_shared.cli import service_main
from intake.config import IntakeSettings

if len(sys.argv) > 1 and sys.argv[1] == "sweep-attachments":
    from intake.entrypoints.cli import sweep_main

    raise SystemExit(sweep_main(sys.argv[2:]))

service_main(
    settings_factory=IntakeSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    app_factory="intake.main:create_app",
)
