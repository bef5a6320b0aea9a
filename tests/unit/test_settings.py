"""The development JWT secret is refused outside development (issue "One way to change state":
a service deployed with no JWT_SECRET or JWKS_URL accepted tokens anyone can mint from the
secret published with the source)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import SecretStr, ValidationError

from cqm_shared.settings import DEVELOPMENT_JWT_SECRET, ServiceSettings, load_settings
from tests.conftest import REPO


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process environment with none of the suite's variables (the suite itself runs as `test`)."""
    for name in ("ENVIRONMENT", "JWT_SECRET", "JWKS_URL"):
        monkeypatch.delenv(name, raising=False)


def settings(**values: object) -> ServiceSettings:
    return ServiceSettings(_env_file=None, **values)


def test_by_default_the_development_secret_is_refused(unconfigured: None) -> None:
    with pytest.raises(ValidationError) as refused:
        settings()
    message = str(refused.value)
    assert "ENVIRONMENT=production" in message and "development secret" in message
    assert "JWKS_URL" in message and "JWT_SECRET" in message and "ENVIRONMENT=development" in message


def test_production_starts_with_a_key_set_or_a_secret_of_its_own(unconfigured: None) -> None:
    assert settings(jwks_url="https://idp.example.com/.well-known/jwks.json").environment == "production"
    own = settings(jwt_secret=SecretStr("a-production-secret-of-our-own-0123456789"))
    assert own.jwt_secret.get_secret_value() != DEVELOPMENT_JWT_SECRET
    with pytest.raises(ValidationError):
        settings(environment="production", jwt_secret=SecretStr(DEVELOPMENT_JWT_SECRET))


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_and_test_accept_the_development_secret(unconfigured: None, environment: str) -> None:
    assert settings(environment=environment).jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET


def test_an_unknown_environment_is_refused(unconfigured: None) -> None:
    with pytest.raises(ValidationError, match="environment"):
        settings(environment="staging-ish")


def test_load_settings_exits_with_the_fix_and_no_traceback(unconfigured: None) -> None:
    with pytest.raises(SystemExit) as refused:
        load_settings(lambda: settings())
    message = str(refused.value.code)
    assert message.startswith("refusing to run, the configuration is invalid:")
    assert "Set JWKS_URL" in message and "Value error" not in message


def test_a_service_process_refuses_to_start_in_production_with_the_development_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ENVIRONMENT", "JWT_SECRET", "JWKS_URL")}
    env["DATABASE_URL"] = "sqlite+aiosqlite:////nonexistent/never-created.db"
    done = subprocess.run(
        [sys.executable, "-m", "intake", "run"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "refusing to run" in done.stderr and "JWKS_URL" in done.stderr
    assert "Traceback" not in done.stderr
