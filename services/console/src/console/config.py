"""Settings of the web console (质量管理控制台). It owns no business data: it calls the four
services' APIs with the signed-in user's own token."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from cqm_shared.settings import ServiceSettings

# Known to everyone who has read this repository: accepted only in development and test.
DEVELOPMENT_SESSION_SECRET = "dev-only-console-session-secret-0123456789abcdef"


class ConsoleSettings(ServiceSettings):
    service_name: str = "console"
    port: int = 8000
    intake_url: str = "http://127.0.0.1:8001"
    investigation_url: str = "http://127.0.0.1:8002"
    penalty_url: str = "http://127.0.0.1:8003"
    notification_url: str = "http://127.0.0.1:8004"
    backend_timeout: float = Field(default=15.0, gt=0, description="seconds before a service call counts as down")
    # The signed session cookie holds the user's token: its key must be the deployment's own.
    session_secret: SecretStr = SecretStr(DEVELOPMENT_SESSION_SECRET)
    session_max_age: int = Field(default=8 * 3600, ge=300)
    # None: Secure cookies everywhere but on a developer's machine served over plain http.
    cookie_secure: bool | None = None
    default_language: str = Field(default="zh", pattern="^(zh|en)$")
    # Times are stored in UTC; pages show them in the factories' own time.
    display_timezone: str = "Asia/Shanghai"
    # Production sign-in: OpenID Connect authorization code flow with PKCE at this issuer; its
    # access tokens are the ones the services verify (JWKS_URL).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scope: str = "openid profile email"
    public_url: str | None = Field(default=None, description="the console's external URL, for the OIDC callback")

    @model_validator(mode="after")
    def _production_needs_its_own_secrets(self) -> Self:
        if self.development:
            return self
        if self.session_secret.get_secret_value() == DEVELOPMENT_SESSION_SECRET:
            raise ValueError(
                f"ENVIRONMENT={self.environment} but SESSION_SECRET is the development secret published with "
                "the source code, so anyone could forge a session. Set SESSION_SECRET to 32+ random characters."
            )
        if not (self.oidc_issuer and self.oidc_client_id):
            raise ValueError(
                f"ENVIRONMENT={self.environment} needs OIDC_ISSUER and OIDC_CLIENT_ID: production sign-in goes "
                "through your identity provider (development sign-in mints tokens and is refused here)."
            )
        return self

    @property
    def development(self) -> bool:
        """Sign-in by picking a role and a factory (the development token) is allowed."""
        return self.environment in ("development", "test")

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else not self.development

    def service_urls(self) -> dict[str, str]:
        return {
            "intake": self.intake_url,
            "investigation": self.investigation_url,
            "penalty": self.penalty_url,
            "notification": self.notification_url,
        }
