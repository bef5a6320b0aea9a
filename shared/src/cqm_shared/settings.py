"""Settings every service reads from the environment (one process = one service)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Known to everyone who has read this repository: accepted only where ENVIRONMENT says so.
DEVELOPMENT_JWT_SECRET = "dev-only-secret-change-me-in-production-0123456789"


class ServiceSettings(BaseSettings):
    """Environment variables common to all services; each service subclasses it."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "service"
    # `development` (a developer's machine, `make run`, docker-compose.yml) and `test` accept the
    # development JWT secret; anything else is treated as production. The default is the safe
    # one: a deployment that sets nothing must bring its own JWT_SECRET or JWKS_URL.
    environment: Literal["development", "test", "production"] = "production"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # The contract's exchange; overridable only to isolate test runs on a shared broker.
    exchange: str = "complaints"
    queue_prefix: str = ""
    # Factories whose events this deployment consumes: "*" (head office) or "F01,F02".
    factory_scope: str = "*"
    # What this process runs, so an orchestrator can scale the parts apart: `all` (the API, the
    # consumers, the outbox relay and the service's background workers), `api` (the API and the
    # relay: scaled on CPU) or `worker` (consumers, relay and workers: scaled on queue length;
    # it still answers /health/* and /metrics). Every role relays the outbox it writes.
    process_role: Literal["all", "api", "worker"] = "all"
    policy_dir: Path = Field(default_factory=lambda: Path.cwd() / "deploy" / "policies")
    max_delivery_attempts: int = Field(default=5, ge=1, le=50)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    # Deliveries in flight per subscription (AMQP prefetch), and how many of them one
    # transaction may write (1: a transaction per message).
    consumer_prefetch: int = Field(default=64, ge=1, le=1000)
    consumer_batch_size: int = Field(default=32, ge=1, le=1000)
    relay_poll_interval: float = Field(default=1.0, gt=0)
    relay_batch_size: int = Field(default=100, ge=1, le=5000)
    # Spans go to OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and to this JSON-lines file if given.
    # Authentication: HS256 with JWT_SECRET in development; JWKS_URL (RS256/ES256) in production.
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_issuer: str = "cqm-dev"
    jwt_audience: str = "cqm"
    jwks_url: str | None = None
    api_keys_file: Path = Field(default_factory=lambda: Path.cwd() / "deploy" / "api_keys.yaml")
    # Hostile input
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_burst: int = Field(default=100, ge=1)
    cors_origins: list[str] = Field(default_factory=list)  # closed unless listed
    otel_exporter_otlp_endpoint: str | None = None
    traces_file: Path | None = None

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> Self:
        development = self.environment in ("development", "test")
        if not development and not self.jwks_url and self.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET:
            raise ValueError(
                f"ENVIRONMENT={self.environment} but JWT_SECRET is the development secret published with the "
                "source code, so anyone could mint tokens. Set JWKS_URL to your identity provider's key set "
                "(or JWT_SECRET to a secret of your own, at least 32 random characters); on a developer's "
                "machine set ENVIRONMENT=development."
            )
        return self

    @property
    def consumes(self) -> bool:
        """Whether this process consumes its subscriptions and runs its background workers."""
        return self.process_role != "api"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///data/{self.service_name}.db"

    def factories_in_scope(self) -> list[str]:
        """Routing-key suffixes: ['*'] or lower-case factory codes."""
        if self.factory_scope.strip() in ("", "*"):
            return ["*"]
        return [f.strip().lower() for f in self.factory_scope.split(",") if f.strip()]


S = TypeVar("S", bound=ServiceSettings)


def load_settings(factory: Callable[[], S]) -> S:
    """Settings from the environment, or exit with what is wrong and how to fix it (no traceback)."""
    try:
        return factory()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"  {where}: {message}" if where else f"  {message}")
        raise SystemExit("refusing to run, the configuration is invalid:\n" + "\n".join(problems)) from None
