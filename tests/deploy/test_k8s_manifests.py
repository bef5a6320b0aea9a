"""The Kubernetes manifests (deploy/k8s), rendered per overlay with kubectl's kustomize and checked offline.

Every overlay under deploy/k8s/overlays is discovered, rendered once per session (tests/deploy/manifests.py caches
it), validated against the Kubernetes API schemas and the vendored operators' CRDs (strict: an unknown field is an
error, a kind without a schema too), then checked (tests/deploy/checks.py) for what the suite needs of a deployment:
health probes, resources and disruption budgets, each site's factory scope, databases and namespace, no literal
secrets and only known secret names, KEDA scaling on the suite's real queues, alert rules on metrics that exist,
migrations in Jobs and pinned images. The validator and each check are also run on deliberately broken resources
and must reject them, so none of these tests can pass by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from tests.deploy import checks, manifests
from tests.deploy.checks import Resource

# The overlays the deployment must have at least; any other directory under deploy/k8s/overlays is tested too.
EXPECTED_OVERLAYS = ("head-office", "factory-f01", "factory-f02")
OVERLAYS = manifests.overlays()

# The operators' custom resources the manifests use; their CRDs must be vendored in deploy/k8s/crds.
OPERATOR_KINDS = (
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("opentelemetry.io/v1beta1", "OpenTelemetryCollector"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
)
SLA_BREACHES = "cqm_sla_breaches_total"


def rendered(overlay: str) -> list[Resource]:
    """The overlay's resources (rendered once per session, a fresh copy each call); a failure to render, kubectl
    missing included, fails the test: never a skip."""
    try:
        return manifests.render(overlay)
    except (manifests.KubectlNotFound, manifests.RenderError) as problem:
        pytest.fail(str(problem), pytrace=False)


@pytest.fixture(scope="session", params=OVERLAYS or ["<none>"])
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "<none>":
        pytest.fail(f"no overlay (a directory with a kustomization.yaml) under {manifests.OVERLAYS_DIR}", pytrace=False)
    return name


@pytest.fixture(scope="session")
def resources(overlay: str) -> list[Resource]:
    return rendered(overlay)


@pytest.fixture(scope="session")
def suite_metrics() -> set[str]:
    return checks.suite_metric_names()


def report(overlay: str, problems: list[str]) -> str:
    return f"{overlay}: {len(problems)} problem(s):\n" + "\n".join(problems)


# --- every overlay renders, validates and passes every check -------------------------------------------------------


def test_the_expected_overlays_exist() -> None:
    missing = [name for name in EXPECTED_OVERLAYS if name not in OVERLAYS]
    assert not missing, f"overlays missing under {manifests.OVERLAYS_DIR}: {missing} (found {OVERLAYS})"


def test_the_overlay_renders_and_every_resource_validates(overlay: str, resources: list[Resource]) -> None:
    assert resources, f"{overlay} renders no resource"
    errors = manifests.validate(overlay, resources)
    assert not errors, report(overlay, errors)


def test_every_deployment_probes_health_and_sets_resources(overlay: str, resources: list[Resource]) -> None:
    problems = checks.check_probes_and_resources(resources)
    assert not problems, report(overlay, problems)


def test_every_deployment_has_a_disruption_budget(overlay: str, resources: list[Resource]) -> None:
    problems = checks.check_disruption_budgets(resources)
    assert not problems, report(overlay, problems)


def test_every_suite_container_has_the_sites_factory_scope(overlay: str, resources: list[Resource]) -> None:
    problems = checks.check_factory_scope(overlay, resources)
    assert not problems, report(overlay, problems)


def test_each_overlay_has_its_own_databases_and_namespace() -> None:
    problems = checks.check_own_databases_and_namespaces({name: rendered(name) for name in OVERLAYS})
    assert OVERLAYS, f"no overlay under {manifests.OVERLAYS_DIR}"
    assert not problems, report("overlays", problems)


def test_no_secret_is_rendered_with_its_values(overlay: str, resources: list[Resource]) -> None:
    problems = checks.check_no_literal_secrets(resources)
    assert not problems, report(overlay, problems)


def test_every_secret_reference_is_created_by_an_operator_or_documented(
    overlay: str, resources: list[Resource]
) -> None:
    problems = checks.check_secret_references(resources)
    assert not problems, report(overlay, problems)


def test_keda_scales_the_consumers_on_the_suites_real_queues(overlay: str, resources: list[Resource]) -> None:
    problems = checks.check_keda(resources)
    assert not problems, report(overlay, problems)


def test_every_alert_rule_parses_and_uses_existing_metrics(
    overlay: str, resources: list[Resource], suite_metrics: set[str]
) -> None:
    problems = checks.check_alert_rules(resources, suite_metrics)
    assert not problems, report(overlay, problems)


def test_migrations_run_in_jobs_and_deployments_serve(overlay: str, resources: list[Resource]) -> None:
    problems = checks.check_commands(resources)
    assert not problems, report(overlay, problems)


def test_every_image_is_pinned(overlay: str, resources: list[Resource]) -> None:
    problems = checks.check_images(resources)
    assert not problems, report(overlay, problems)


def test_the_sla_breach_metric_is_defined(suite_metrics: set[str]) -> None:
    assert SLA_BREACHES in suite_metrics, (
        f"{SLA_BREACHES} is not registered by any of {checks.METRIC_MODULES}: the notification service defines it "
        "(the PrometheusRules alert on it); if it moved to another module, add that module to METRIC_MODULES"
    )


# --- the validator rejects what is broken --------------------------------------------------------------------------


def a_deployment(**container_extra: Any) -> Resource:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "cqm"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "cqm-intake:1.0.0", **container_extra}]},
            },
        },
    }


def a_rabbitmq_cluster(**spec: Any) -> Resource:
    return {
        "apiVersion": "rabbitmq.com/v1beta1",
        "kind": "RabbitmqCluster",
        "metadata": {"name": "broker", "namespace": "cqm"},
        "spec": {"replicas": 3, "persistence": {"storage": "10Gi"}, **spec},
    }


def test_the_validator_accepts_valid_resources() -> None:
    valid = [
        a_deployment(ports=[{"containerPort": 8000, "name": "http"}]),
        a_rabbitmq_cluster(resources={"limits": {"memory": "2Gi"}, "requests": {"cpu": 1}}),
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "worker", "namespace": "cqm"},
            "spec": {
                "scaleTargetRef": {"name": "web"},
                "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "intake.submissions", "value": "20"}}],
            },
        },
    ]
    assert manifests.validate("test", valid) == []


def test_the_validator_rejects_an_unknown_field_of_a_deployment() -> None:
    errors = manifests.validate("test", [a_deployment(imagePullPolicyy="Always")])
    assert len(errors) == 1
    assert errors[0].startswith("test Deployment/web: $.spec.template.spec.containers[0]: ")
    assert "'imagePullPolicyy' was unexpected" in errors[0]


def test_the_validator_rejects_a_wrong_type_in_a_deployment() -> None:
    errors = manifests.validate("test", [a_deployment(ports=[{"containerPort": "eight thousand"}])])
    assert errors == [
        "test Deployment/web: $.spec.template.spec.containers[0].ports[0].containerPort: "
        "'eight thousand' is not of type 'integer'"
    ]


def test_the_validator_rejects_a_misspelt_field_of_a_rabbitmq_cluster() -> None:
    errors = manifests.validate("test", [a_rabbitmq_cluster(persistance={"storage": "10Gi"})])
    assert errors == [
        "test RabbitmqCluster/broker: $.spec: Additional properties are not allowed ('persistance' was unexpected)"
    ]


def test_the_validator_rejects_a_misspelt_field_deep_in_a_custom_resource() -> None:
    errors = manifests.validate("test", [a_rabbitmq_cluster(resources={"limit": {"memory": "2Gi"}})])
    assert errors == [
        "test RabbitmqCluster/broker: $.spec.resources: Additional properties are not allowed ('limit' was unexpected)"
    ]


def test_the_validator_checks_the_metadata_of_a_custom_resource() -> None:
    broken = a_rabbitmq_cluster()
    broken["metadata"]["label"] = {"app": "broker"}
    errors = manifests.validate("test", [broken])
    assert errors == [
        "test RabbitmqCluster/broker: $.metadata: Additional properties are not allowed ('label' was unexpected)"
    ]


def test_the_validator_rejects_a_kind_without_a_schema() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    errors = manifests.validate("test", [unknown])
    assert len(errors) == 1
    assert errors[0].startswith("test Widget/w: $.apiVersion: no schema for kind Widget of example.com/v1")


def test_the_validator_rejects_an_unserved_version_of_a_known_kind() -> None:
    wrong_version = a_rabbitmq_cluster()
    wrong_version["apiVersion"] = "rabbitmq.com/v1"
    assert len(manifests.validate("test", [wrong_version])) == 1


def test_every_operator_kind_is_vendored_and_compiles() -> None:
    missing = [
        f"{kind} ({api_version})"
        for api_version, kind in OPERATOR_KINDS
        if manifests.crd_validator(api_version, kind) is None
    ]
    assert not missing, f"not vendored in {manifests.CRDS_DIR}: {missing}"
    for api_version, kind in manifests.vendored_crds():
        validator = manifests.crd_validator(api_version, kind)
        # a valid JSON Schema 2020-12 whose every `pattern` is a regular expression Python understands
        Draft202012Validator.check_schema(validator.schema)


def test_the_strict_conversion_of_openapi_schemas() -> None:
    schema = {
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "note": {"type": "string", "nullable": True, "enum": ["a", "b"]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "list": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object", "properties": {}}},
        },
    }
    strict = manifests.strict_json_schema(schema)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["port"]["type"] == ["integer", "string"]
    assert strict["properties"]["note"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert "additionalProperties" not in strict["properties"]["free"]
    assert strict["properties"]["map"]["additionalProperties"] == {"type": "string"}
    assert strict["properties"]["list"] == {
        "type": "array",
        "items": {"type": "object", "properties": {}, "additionalProperties": False},
    }


def test_a_missing_kubectl_fails_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.setattr(manifests, "FALLBACK_KUBECTL", str(tmp_path / "kubectl"))
    with pytest.raises(manifests.KubectlNotFound, match="Install it"):
        manifests.kubectl()


# --- each check rejects a deliberately broken copy of a real overlay -------------------------------------------------


def first_suite(resources: list[Resource], kind: str) -> tuple[Resource, Resource]:
    for workload, container, _ in checks.suite_containers(resources, kind):
        return workload, container
    pytest.fail(f"nothing to break: no suite {kind} rendered", pytrace=False)


def first_of(resources: list[Resource], kind: str) -> Resource:
    found = checks.of_kind(resources, kind)
    if not found:
        pytest.fail(f"nothing to break: no {kind} rendered", pytrace=False)
    return found[0]


def without(kind: str) -> Callable[[list[Resource]], None]:
    def mutate(resources: list[Resource]) -> None:
        first_of(resources, kind)
        resources[:] = [r for r in resources if r.get("kind") != kind]

    return mutate


def on_suite_container(kind: str, change: Callable[[Resource], None]) -> Callable[[list[Resource]], None]:
    def mutate(resources: list[Resource]) -> None:
        change(first_suite(resources, kind)[1])

    return mutate


def first_trigger(resources: list[Resource]) -> Resource:
    for scaled in checks.of_kind(resources, "ScaledObject", "keda.sh"):
        for trigger in scaled["spec"].get("triggers") or []:
            if trigger.get("type") == "rabbitmq":
                trigger_found: Resource = trigger
                return trigger_found
    pytest.fail("nothing to break: no KEDA rabbitmq trigger rendered", pytrace=False)


def with_rule(expr: str) -> Callable[[list[Resource]], None]:
    def mutate(resources: list[Resource]) -> None:
        groups = first_of(resources, "PrometheusRule")["spec"]["groups"]
        groups[0]["rules"].append({"alert": "Broken", "expr": expr})

    return mutate


def with_env(name: str, value: str) -> Callable[[Resource], None]:
    return lambda container: container.setdefault("env", []).append({"name": name, "value": value})


def secret_ref_renamed(resources: list[Resource]) -> None:
    container = first_suite(resources, "Deployment")[1]
    for entry in container.get("env") or []:
        if "secretKeyRef" in entry.get("valueFrom", {}):
            entry["valueFrom"]["secretKeyRef"]["name"] = "cqm-typo"
            return
    pytest.fail("nothing to break: no secretKeyRef in a suite Deployment", pytrace=False)


def budgets_select_nothing(resources: list[Resource]) -> None:
    first_of(resources, "PodDisruptionBudget")
    for budget in checks.of_kind(resources, "PodDisruptionBudget"):
        budget["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "nothing"}}


def factory_scope_dropped(resources: list[Resource]) -> None:
    for configmap in checks.of_kind(resources, "ConfigMap"):
        (configmap.get("data") or {}).pop("FACTORY_SCOPE", None)
    for _, container, _ in checks.suite_containers(resources):
        container["env"] = [e for e in container.get("env") or [] if e.get("name") != "FACTORY_SCOPE"]


def pop_path(*keys: str) -> Callable[[Resource], None]:
    def change(container: Resource) -> None:
        node = container
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def set_path(value: Any, *keys: str) -> Callable[[Resource], None]:
    def change(container: Resource) -> None:
        node = container
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def add_secret(resources: list[Resource]) -> None:
    namespace = checks.namespace_of(resources[-1])
    resources.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cqm-auth", "namespace": namespace},
            "stringData": {"JWT_SECRET": "committed-to-git"},
        }
    )


Check = Callable[[str, list[Resource]], list[str]]
BROKEN: dict[str, tuple[str, Callable[[list[Resource]], None], Check]] = {
    # id: (overlay, how to break it, the check that must notice)
    "readiness probe removed": (
        "head-office",
        on_suite_container("Deployment", pop_path("readinessProbe")),
        lambda _, r: checks.check_probes_and_resources(r),
    ),
    "liveness probe on /health/ready": (
        "head-office",
        on_suite_container("Deployment", set_path("/health/ready", "livenessProbe", "httpGet", "path")),
        lambda _, r: checks.check_probes_and_resources(r),
    ),
    "probe on an undeclared port": (
        "head-office",
        on_suite_container("Deployment", set_path(9999, "readinessProbe", "httpGet", "port")),
        lambda _, r: checks.check_probes_and_resources(r),
    ),
    "no memory limit": (
        "head-office",
        on_suite_container("Deployment", pop_path("resources", "limits", "memory")),
        lambda _, r: checks.check_probes_and_resources(r),
    ),
    "no cpu request": (
        "head-office",
        on_suite_container("Deployment", pop_path("resources", "requests", "cpu")),
        lambda _, r: checks.check_probes_and_resources(r),
    ),
    "no disruption budget": (
        "head-office",
        without("PodDisruptionBudget"),
        lambda _, r: checks.check_disruption_budgets(r),
    ),
    "budgets selecting other pods": (
        "head-office",
        budgets_select_nothing,
        lambda _, r: checks.check_disruption_budgets(r),
    ),
    "another factory's scope": (
        "factory-f01",
        on_suite_container("Deployment", with_env("FACTORY_SCOPE", "F02")),
        checks.check_factory_scope,
    ),
    "a factory scope at the head office": (
        "head-office",
        on_suite_container("Deployment", with_env("FACTORY_SCOPE", "F01")),
        checks.check_factory_scope,
    ),
    "no factory scope": ("factory-f02", factory_scope_dropped, checks.check_factory_scope),
    "a Secret with its values": ("head-office", add_secret, lambda _, r: checks.check_no_literal_secrets(r)),
    "a Secret nobody creates": ("head-office", secret_ref_renamed, lambda _, r: checks.check_secret_references(r)),
    "a misspelt queue": (
        "head-office",
        lambda r: first_trigger(r)["metadata"].update(queueName="intake.submision"),
        lambda _, r: checks.check_keda(r),
    ),
    "a queue nobody scales on": ("head-office", without("ScaledObject"), lambda _, r: checks.check_keda(r)),
    "an alert on a metric that does not exist": (
        "head-office",
        with_rule("rate(cqm_no_such_metric_total[5m]) > 0"),
        lambda _, r: checks.check_alert_rules(r, checks.suite_metric_names()),
    ),
    "an alert with unbalanced brackets": (
        "head-office",
        with_rule("sum(rate(cqm_http_requests_total[5m]) > 0"),
        lambda _, r: checks.check_alert_rules(r, checks.suite_metric_names()),
    ),
    "an alert calling no PromQL function": (
        "head-office",
        with_rule("ratee(cqm_http_requests_total[5m]) > 0"),
        lambda _, r: checks.check_alert_rules(r, checks.suite_metric_names()),
    ),
    "a Deployment that runs (migrates in every replica)": (
        "head-office",
        on_suite_container("Deployment", set_path(["sh", "-c", 'exec python -m "$SERVICE" run'], "command")),
        lambda _, r: checks.check_commands(r),
    ),
    "a migrations Job that serves": (
        "head-office",
        on_suite_container("Job", set_path(["sh", "-c", 'exec python -m "$SERVICE" serve'], "command")),
        lambda _, r: checks.check_commands(r),
    ),
    "no migrations Job": ("head-office", without("Job"), lambda _, r: checks.check_commands(r)),
    "an image tagged latest": (
        "head-office",
        on_suite_container("Deployment", lambda c: c.update(image=c["image"].rsplit(":", 1)[0] + ":latest")),
        lambda _, r: checks.check_images(r),
    ),
    "an untagged image": (
        "head-office",
        on_suite_container("Job", lambda c: c.update(image=c["image"].rsplit(":", 1)[0])),
        lambda _, r: checks.check_images(r),
    ),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_each_check_rejects_a_broken_overlay(broken: str) -> None:
    overlay, mutate, check = BROKEN[broken]
    before = set(check(overlay, rendered(overlay)))
    resources = rendered(overlay)  # a fresh copy
    mutate(resources)
    new = set(check(overlay, resources)) - before
    assert new, f"the check did not notice: {broken}"


def test_the_database_check_rejects_two_overlays_sharing_a_cluster() -> None:
    cluster = first_of(rendered("factory-f01"), "Cluster")
    namespace, name = checks.namespace_of(cluster), checks.name_of(cluster)
    problems = checks.check_own_databases_and_namespaces(
        {"factory-f01": rendered("factory-f01"), "copy": rendered("factory-f01")}
    )
    assert f"database cluster {namespace}/{name} is rendered by several overlays: ['factory-f01', 'copy']" in problems
    assert any(p.startswith(f"namespace {namespace} ") for p in problems), problems
