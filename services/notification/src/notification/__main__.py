from pathlib import Path

from cqm_shared.cli import service_main
from notification.config import NotificationSettings

service_main(
    settings_factory=NotificationSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    app_factory="notification.main:create_app",
)
