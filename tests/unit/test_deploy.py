"""The compose file and images, checked statically (this machine kind has no Docker engine
to run them): every service has its own database, health-ordered start and an image that
migrates before serving, all four built from one Dockerfile (issue "One way to change state":
the four per-service Dockerfiles were copies)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

SERVICES = {"intake": 8001, "investigation": 8002, "penalty": 8003, "notification": 8004}
DOCKERFILE = "deploy/Dockerfile"


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return services


@pytest.mark.parametrize(
    ("profile", "suffix", "scope"), [("head-office", "", "*"), ("factory", "-factory", "${FACTORY:-F01}")]
)
def test_each_compose_profile_runs_the_suite_each_service_on_its_own_database(
    profile: str, suffix: str, scope: str
) -> None:
    compose = compose_services()
    assert {"rabbitmq", "postgres", "jaeger"} <= set(compose)
    assert not any("profiles" in compose[name] for name in ("rabbitmq", "postgres", "jaeger"))  # in both
    in_profile = {name for name, service in compose.items() if profile in service.get("profiles", [])}
    assert in_profile == {f"{name}{suffix}" for name in [*SERVICES, "console"]}
    created = set(re.findall(r"CREATE DATABASE (\w+);", (REPO / "deploy/postgres/init.sql").read_text()))
    databases = set()
    for name, port in SERVICES.items():
        service = compose[f"{name}{suffix}"]
        env = service["environment"]
        database = env["DATABASE_URL"].rsplit("/", 1)[1]
        databases.add(database)
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://") and database == f"{name}{suffix}".replace(
            "-", "_"
        )
        assert env["PORT"] == str(port) and f"{port}:{port}" in service["ports"]
        assert env["FACTORY_SCOPE"] == scope and env["PROCESS_ROLE"] == "all"
        assert env["RABBITMQ_URL"].startswith("amqp://") and env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert (REPO / service["build"]["dockerfile"]).is_file()
        if suffix:  # the console calls a factory's services by the same names
            assert service["networks"]["default"]["aliases"] == [name]
    assert databases <= created
    console = compose[f"console{suffix}"]
    assert {console["environment"][f"{name.upper()}_URL"] for name in SERVICES} == {
        f"http://{name}:{port}" for name, port in SERVICES.items()
    }
    assert "healthcheck" in compose["rabbitmq"] and "healthcheck" in compose["postgres"]
    assert "15672:15672" in compose["rabbitmq"]["ports"]  # management UI


def test_one_dockerfile_builds_every_service_image() -> None:
    found = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "data"]
        found += [str((Path(folder) / f).relative_to(REPO)) for f in files if f.startswith("Dockerfile")]
    assert found == [DOCKERFILE]
    compose = compose_services()
    for name, port in {**SERVICES, "console": 8000}.items():
        build = compose[name]["build"]
        assert build["context"] == "." and build["dockerfile"] == DOCKERFILE
        assert build["args"] == {"SERVICE": name, "PORT": str(port)}
        assert compose[name]["image"] == f"${{CQM_REGISTRY:-registry.example.com/cqm}}/{name}:${{CQM_VERSION:-0.1.0}}"
        package = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())["project"]["name"]
        assert package == f"cqm-{name}"  # what `--package "cqm-$SERVICE"` installs


def test_the_image_installs_only_its_service_and_migrates_before_serving() -> None:
    dockerfile = (REPO / DOCKERFILE).read_text()
    build, final = dockerfile.split("\nFROM ", 2)[1:]
    assert "ARG SERVICE" in build and "ARG SERVICE" in final  # an ARG is per stage
    assert 'test -n "$SERVICE"' in build  # a build without SERVICE fails with the fix
    assert 'uv sync --frozen --no-dev --no-editable --package "cqm-$SERVICE"' in build
    # run = migrate, then serve; exec: the service is PID 1 and gets docker's SIGTERM
    assert 'CMD ["sh", "-c", "exec python -m \\"$SERVICE\\" run"]' in final
    assert "SERVICE=$SERVICE" in final and "PORT=$PORT" in final and "EXPOSE $PORT" in final
    assert "HEALTHCHECK" in final and "/health/ready" in final
    assert "USER cqm" in final


def test_runtime_dependencies_belong_to_the_package_that_imports_them() -> None:
    def dependencies(path: str) -> set[str]:
        project = tomllib.loads((REPO / path).read_text())["project"]
        return {re.split(r"[\[=<>]", d, maxsplit=1)[0] for d in project["dependencies"]}

    shared = dependencies("shared/pyproject.toml")
    assert not {"boto3", "python-multipart", "httpx", "tenacity"} & shared  # in every image otherwise
    for module in (REPO / "shared" / "src").rglob("*.py"):
        imports = re.findall(r"^\s*(?:import|from) (boto3|httpx|tenacity|multipart)\b", module.read_text(), re.M)
        assert not imports, f"{module} imports {imports}: declare it in shared/pyproject.toml"
    assert {"boto3", "python-multipart"} <= dependencies("services/intake/pyproject.toml")
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    assert any(d.startswith("httpx==") for d in dev)
