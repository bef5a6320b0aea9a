"""The compose file and images, checked statically (this machine kind has no Docker engine
to run them): every service has its own database, health-ordered start and an image that
migrates before serving."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO

SERVICES = {"intake": 8001, "investigation": 8002, "penalty": 8003, "notification": 8004}


def test_compose_runs_four_services_each_on_its_own_database() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert {"rabbitmq", "postgres", "jaeger", *SERVICES} <= set(compose)
    created = set(re.findall(r"CREATE DATABASE (\w+);", (REPO / "deploy/postgres/init.sql").read_text()))
    databases = set()
    for name, port in SERVICES.items():
        service = compose[name]
        env = service["environment"]
        database = env["DATABASE_URL"].rsplit("/", 1)[1]
        databases.add(database)
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://") and database == name
        assert env["PORT"] == str(port) and f"{port}:{port}" in service["ports"]
        assert env["RABBITMQ_URL"].startswith("amqp://") and env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert (REPO / service["build"]["dockerfile"]).is_file()
    assert databases == created
    assert "healthcheck" in compose["rabbitmq"] and "healthcheck" in compose["postgres"]
    assert "15672:15672" in compose["rabbitmq"]["ports"]  # management UI


def test_each_image_installs_only_its_service_and_migrates_before_serving() -> None:
    for name, port in SERVICES.items():
        dockerfile = (REPO / "services" / name / "Dockerfile").read_text()
        assert f"--package cqm-{name}" in dockerfile and "--frozen" in dockerfile
        assert f'CMD ["python", "-m", "{name}", "run"]' in dockerfile  # run = migrate, then serve
        assert "HEALTHCHECK" in dockerfile and f"PORT={port}" in dockerfile
        assert "USER cqm" in dockerfile
