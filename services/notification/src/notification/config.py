"""Settings of the notification service (通知)."""

from cqm_shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    port: int = 8004
