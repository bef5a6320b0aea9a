"""What the suite needs of its rendered Kubernetes manifests, beyond their schemas: each `check_*` returns the
problems it finds in one overlay's resources (an empty list: none), so tests/deploy/test_k8s_manifests.py asserts
them on every overlay and, on deliberately broken copies, that each check does find what it is for.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from tests.deploy import manifests, promql
from tests.infrastructure import SUBSCRIPTION_QUEUES

Resource = dict[str, Any]

HEAD_OFFICE = "head-office"
FACTORY_OVERLAY = re.compile(r"factory-(f\d+)")

# The suite's services: images `cqm/<service>` (or `cqm-<service>`) running `python -m <service> migrate|serve`.
SUITE_SERVICES = ("intake", "investigation", "penalty", "notification", "console")
# Services with database migrations: each needs a migrations Job wherever it is deployed.
MIGRATED_SERVICES = tuple(
    s for s in SUITE_SERVICES if (manifests.REPO / "services" / s / "src" / s / "migrations").is_dir()
)

# The one list of the Secrets the manifests may reference that neither they nor an operator create (CloudNativePG's
# `<cluster>-app` and the RabbitMQ Cluster Operator's `<cluster>-default-user` are derived from the rendered
# clusters). Each site's operator creates them out of band, never in git: the list and the commands are in the
# comment at the top of deploy/k8s/base/kustomization.yaml; keep the two in agreement.
EXTERNAL_SECRETS: Mapping[str, str] = {
    "cqm-auth": "JWT_SECRET, only for HS256 tokens (optional where JWKS_URL is set)",
    "cqm-api-keys": "api_keys.yaml: the hashed integration API keys, mounted at /etc/cqm/api-keys",
    "intake-secrets": "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY of the attachments' S3 bucket",
    "investigation-secrets": "optional, whatever a site adds",
    "penalty-secrets": "optional, whatever a site adds",
    "notification-secrets": "the variables the policies' password_env / secret_env name (SMTP, robots, webhooks)",
    "console-secrets": "SESSION_SECRET, OIDC_CLIENT_SECRET",
    "console-tls": "the console's TLS certificate",
}

# Metric names the PrometheusRules may use besides the suite's own: RabbitMQ's documented ones (and their
# /metrics/detailed form rabbitmq_detailed_*), kube-state-metrics' kube_* and Prometheus' own `up`.
RABBITMQ_METRICS = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "rabbitmq_metrics.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
OTHER_METRIC_PREFIXES = ("kube_",)
OTHER_METRICS = frozenset({"up"})
# The modules that define the suite's metrics (prometheus_client registers them in the default registry on import).
METRIC_MODULES = (
    "cqm_shared.web",
    "cqm_shared.messaging.relay",
    "cqm_shared.messaging.consumer",
    "notification.entrypoints.workers",
)

# Image fields of the operators' resources: when set, they must be pinned like a container's image.
CUSTOM_RESOURCE_IMAGES = (
    ("RabbitmqCluster", "image"),
    ("OpenTelemetryCollector", "image"),
    ("Cluster", "imageName"),
)


# --- reading rendered resources ---------------------------------------------------------------------------------


def of_kind(resources: list[Resource], kind: str, api_group: str | None = None) -> list[Resource]:
    return [
        r
        for r in resources
        if r.get("kind") == kind and (api_group is None or str(r.get("apiVersion", "")).startswith(f"{api_group}/"))
    ]


def name_of(resource: Resource) -> str:
    return str(resource["metadata"]["name"])


def namespace_of(resource: Resource) -> str | None:
    namespace = resource.get("metadata", {}).get("namespace")
    return None if namespace is None else str(namespace)


def pod_spec(resource: Resource) -> Resource | None:
    kind, spec = resource.get("kind"), resource.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"):
        template: Resource = spec.get("template", {}).get("spec", {})
        return template
    return None


def containers(resource: Resource, *, init: bool = True) -> list[Resource]:
    spec = pod_spec(resource) or {}
    keys = ("initContainers", "containers", "ephemeralContainers") if init else ("containers",)
    return [c for key in keys for c in spec.get(key) or []]


def workloads(resources: list[Resource]) -> Iterator[tuple[Resource, Resource]]:
    for resource in resources:
        for container in containers(resource):
            yield resource, container


def words(container: Resource) -> list[str]:
    """The container's command and arguments, split into words (a `sh -c "..."` line included)."""
    return [
        word
        for part in [*(container.get("command") or []), *(container.get("args") or [])]
        for word in str(part).split()
    ]


def image_path(image: str) -> list[str]:
    """The segments of an image's repository, without tag or digest: `cqm/intake:1.2` -> [cqm, intake]."""
    repository = image.split("@", 1)[0]
    segments = repository.split("/")
    segments[-1] = segments[-1].split(":", 1)[0]
    return segments


def env_value(container: Resource, name: str, resources: list[Resource], namespace: str | None) -> str | None:
    """The value the container gets for variable `name` (None if unset); `env` wins over `envFrom`, later entries
    over earlier ones, ConfigMaps are looked up among the rendered resources. A value from anywhere else is
    described in angle brackets, so it never equals an expected plain value."""
    value: str | None = None
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = configmap_data(resources, source["configMapRef"].get("name"), namespace)
            for key, item in data.items():
                if f"{prefix}{key}" == name:
                    value = item
    for entry in container.get("env") or []:
        if entry.get("name") != name:
            continue
        if "value" in entry:
            value = str(entry["value"])
        elif "configMapKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["configMapKeyRef"]
            found = configmap_data(resources, ref.get("name"), namespace).get(ref.get("key"))
            value = found if found is not None else f"<missing key {ref.get('key')} of ConfigMap {ref.get('name')}>"
        else:
            value = f"<{entry.get('valueFrom')}>"
    return value


def configmap_data(resources: list[Resource], name: str | None, namespace: str | None) -> dict[str, str]:
    for configmap in of_kind(resources, "ConfigMap"):
        if name_of(configmap) == name and namespace_of(configmap) == namespace:
            return {str(k): str(v) for k, v in (configmap.get("data") or {}).items()}
    return {}


def service_of(container: Resource, resources: list[Resource], namespace: str | None) -> str | None:
    """Which suite service the container runs (None: not a suite container): its image `cqm/<service>` or
    `cqm-<service>` (the suite's images), else `-m <service>` in its command, else its SERVICE variable."""
    path = image_path(str(container.get("image", "")))
    if path[-1] in SUITE_SERVICES and "cqm" in path[:-1]:
        return path[-1]
    if path[-1].startswith("cqm-") and path[-1][4:] in SUITE_SERVICES:
        return path[-1][4:]
    said = words(container)
    for i, word in enumerate(said[:-1]):
        if word == "-m" and said[i + 1].strip("\"'") in SUITE_SERVICES:
            return said[i + 1].strip("\"'")
    service = env_value(container, "SERVICE", resources, namespace)
    return service if service in SUITE_SERVICES else None


def suite_containers(
    resources: list[Resource], kind: str | None = None, only: Resource | None = None
) -> Iterator[tuple[Resource, Resource, str]]:
    """(workload, container, service) of every suite container (of one kind, or of one workload)."""
    for resource, container in workloads(resources):
        if (kind is not None and resource.get("kind") != kind) or (only is not None and resource is not only):
            continue
        service = service_of(container, resources, namespace_of(resource))
        if service is not None:
            yield resource, container, service


def selector_matches(selector: Resource | None, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector against a set of labels (an absent selector selects nothing)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def where(resource: Resource, container: Resource | None = None) -> str:
    place = f"{resource.get('kind')}/{namespace_of(resource) or '-'}/{name_of(resource)}"
    return f"{place} container {container.get('name')}" if container is not None else place


def secret_references(node: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """(json path, Secret name) of every reference to a Secret anywhere in a resource."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            if key in ("secretKeyRef", "secretRef", "secret") and isinstance(value, dict) and "name" in value:
                yield here, str(value["name"])
            elif key == "secretName" and isinstance(value, str):
                yield here, value
            elif key in ("secretTargetRef", "imagePullSecrets") and isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict) and "name" in item:
                        yield f"{here}[{i}]", str(item["name"])
            yield from secret_references(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from secret_references(item, f"{path}[{i}]")


def operator_secrets(resources: list[Resource]) -> set[tuple[str | None, str]]:
    """(namespace, name) of the Secrets the operators create for the rendered clusters."""
    made = {(namespace_of(c), f"{name_of(c)}-app") for c in of_kind(resources, "Cluster", "postgresql.cnpg.io")}
    made |= {(namespace_of(c), f"{name_of(c)}-default-user") for c in of_kind(resources, "RabbitmqCluster")}
    return made


def suite_metric_names() -> set[str]:
    """Every sample name the suite's services expose on /metrics (the default prometheus_client registry)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(f"{family.name}{suffix}" for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def metric_exists(name: str, suite: set[str], recorded: set[str]) -> bool:
    """Whether a metric name exists: the suite's, recorded by a rule, RabbitMQ's documented, kube_* or up."""
    rabbitmq = name.replace("rabbitmq_detailed_", "rabbitmq_", 1) if name.startswith("rabbitmq_detailed_") else name
    return (
        name in suite
        or name in recorded
        or rabbitmq in RABBITMQ_METRICS
        or name in OTHER_METRICS
        or name.startswith(OTHER_METRIC_PREFIXES)
    )


def image_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "untagged"
    if last.split(":", 1)[1] == "latest":
        return "tagged :latest"
    return None


def expected_factory_scope(overlay: str) -> str | None:
    """The FACTORY_SCOPE of an overlay's services: "*" at the head office, FNN at factory-fNN, None if unknown."""
    if overlay == HEAD_OFFICE:
        return "*"
    factory = FACTORY_OVERLAY.fullmatch(overlay)
    return None if factory is None else factory.group(1).upper()


def pod_labels(workload: Resource) -> dict[str, str]:
    labels: dict[str, str] = (pod_template(workload).get("metadata") or {}).get("labels") or {}
    return labels


def pod_template(workload: Resource) -> Resource:
    spec = workload.get("spec") or {}
    if workload.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template: Resource = spec.get("template") or {}
    return template


# --- the checks -----------------------------------------------------------------------------------------------


def check_probes_and_resources(resources: list[Resource]) -> list[str]:
    """Every Deployment's containers: the suite's have readiness on /health/ready and liveness on /health/live, on a
    container port; any other (an engine's own image, Jaeger) a readiness and a liveness probe on one of its ports.
    All: cpu and memory requests and a memory limit."""
    deployments = of_kind(resources, "Deployment")
    problems = [] if deployments else ["no Deployment rendered"]
    for deployment in deployments:
        for container in containers(deployment, init=False):
            here = where(deployment, container)
            suite = service_of(container, resources, namespace_of(deployment)) is not None
            declared = container.get("ports") or []
            ports = {p.get("containerPort") for p in declared} | {p.get("name") for p in declared if p.get("name")}
            for probe_name, path in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
                probe = container.get(probe_name) or {}
                http = probe.get("httpGet") or {}
                if not suite:
                    port = next((probe[k].get("port") for k in ("httpGet", "tcpSocket", "grpc") if k in probe), None)
                    if not probe or ("exec" not in probe and port not in ports):
                        problems.append(f"{here}: no {probe_name} on one of its ports (it is {probe or None})")
                elif http.get("path") != path:
                    problems.append(f"{here}: {probe_name} is not an httpGet of {path} (it is {probe or None})")
                elif http.get("port") not in ports:
                    problems.append(
                        f"{here}: {probe_name} port {http.get('port')!r} is none of its ports {sorted(map(str, ports))}"
                    )
            requests = (container.get("resources") or {}).get("requests") or {}
            limits = (container.get("resources") or {}).get("limits") or {}
            missing = [f"requests.{k}" for k in ("cpu", "memory") if k not in requests]
            missing += ["limits.memory"] if "memory" not in limits else []
            if missing:
                problems.append(f"{here}: resources without {', '.join(missing)}")
    return problems


def check_disruption_budgets(resources: list[Resource]) -> list[str]:
    """Each Deployment has a PodDisruptionBudget in its namespace whose selector selects its pods."""
    budgets = of_kind(resources, "PodDisruptionBudget")
    return [
        f"{where(deployment)}: no PodDisruptionBudget selects its pods {pod_labels(deployment)}"
        for deployment in of_kind(resources, "Deployment")
        if not any(
            namespace_of(budget) == namespace_of(deployment)
            and selector_matches((budget.get("spec") or {}).get("selector"), pod_labels(deployment))
            for budget in budgets
        )
    ]


def check_factory_scope(overlay: str, resources: list[Resource]) -> list[str]:
    """Every suite container has the site's FACTORY_SCOPE: "*" at the head office, F01 at factory-f01..."""
    expected = expected_factory_scope(overlay)
    if expected is None:
        return [
            f"overlay {overlay} is neither {HEAD_OFFICE} nor factory-fNN: say in "
            "tests/deploy/checks.py expected_factory_scope() which FACTORY_SCOPE its services must have"
        ]
    found = list(suite_containers(resources))
    problems = [] if found else ["no suite container rendered"]
    for workload, container, _ in found:
        scope = env_value(container, "FACTORY_SCOPE", resources, namespace_of(workload))
        if scope != expected:
            problems.append(f"{where(workload, container)}: FACTORY_SCOPE={scope!r}, not {expected!r}")
    return problems


def check_own_databases_and_namespaces(renders: Mapping[str, list[Resource]]) -> list[str]:
    """Each overlay renders CloudNativePG Clusters, and no namespace + Cluster name, nor any namespace, is rendered
    by two overlays: each site has its own databases in its own namespace."""
    problems: list[str] = []
    clusters: dict[tuple[str | None, str], list[str]] = {}
    namespaces: dict[str | None, list[str]] = {}
    for overlay, resources in renders.items():
        found = of_kind(resources, "Cluster", "postgresql.cnpg.io")
        if not found:
            problems.append(f"{overlay} renders no CloudNativePG Cluster")
        for cluster in found:
            clusters.setdefault((namespace_of(cluster), name_of(cluster)), []).append(overlay)
        used = {namespace_of(r) for r in resources if r.get("kind") != "Namespace"}
        used |= {name_of(r) for r in of_kind(resources, "Namespace")}
        for namespace in used:
            namespaces.setdefault(namespace, []).append(overlay)
    problems += [
        f"database cluster {ns}/{name} is rendered by several overlays: {overlays}"
        for (ns, name), overlays in clusters.items()
        if len(overlays) > 1
    ]
    problems += [
        f"namespace {ns} (None: none given, the default) is used by several overlays: {overlays}"
        for ns, overlays in namespaces.items()
        if len(overlays) > 1
    ]
    return problems


def check_no_literal_secrets(resources: list[Resource]) -> list[str]:
    return [
        f"{where(secret)}: a Secret rendered with its values (data/stringData): keep them out of git"
        for secret in of_kind(resources, "Secret")
        if secret.get("data") or secret.get("stringData")
    ]


def check_secret_references(resources: list[Resource]) -> list[str]:
    """Every Secret referenced is created by an operator for a cluster of this overlay (same namespace), rendered
    here (without data: see check_no_literal_secrets), or one of EXTERNAL_SECRETS."""
    known = operator_secrets(resources) | {(namespace_of(s), name_of(s)) for s in of_kind(resources, "Secret")}
    unknown: dict[tuple[str, str], str] = {}  # (resource, secret) -> the first place it is referenced
    for resource in resources:
        for path, name in secret_references(resource.get("spec", {}), "$.spec"):
            if (namespace_of(resource), name) not in known and name not in EXTERNAL_SECRETS:
                unknown.setdefault(
                    (where(resource), name),
                    f"{where(resource)} {path}: Secret {name} is created by no operator of this overlay and is "
                    f"not one of EXTERNAL_SECRETS {sorted(EXTERNAL_SECRETS)}",
                )
    return list(unknown.values())


def check_keda(resources: list[Resource]) -> list[str]:
    """Every KEDA rabbitmq trigger scales a consuming Deployment of the queue's service, on one of the suite's real
    queues (SUBSCRIPTION_QUEUES, with the Deployment's QUEUE_PREFIX), authenticated by a rendered
    TriggerAuthentication; and every queue is scaled on by some ScaledObject."""
    deployments = {(namespace_of(d), name_of(d)): d for d in of_kind(resources, "Deployment")}
    authentications = {(namespace_of(a), name_of(a)) for a in of_kind(resources, "TriggerAuthentication", "keda.sh")}
    covered: set[str] = set()
    problems: list[str] = []
    for scaled in of_kind(resources, "ScaledObject", "keda.sh"):
        here, spec = where(scaled), scaled.get("spec") or {}
        target_ref = spec.get("scaleTargetRef") or {}
        target = deployments.get((namespace_of(scaled), str(target_ref.get("name"))))
        if target is None or target_ref.get("kind", "Deployment") != "Deployment":
            problems.append(f"{here}: scaleTargetRef {target_ref} is no rendered Deployment of its namespace")
            continue
        suite = [(c, s) for _, c, s in suite_containers(resources, only=target)]
        services = {s for _, s in suite}
        prefixes = {env_value(c, "QUEUE_PREFIX", resources, namespace_of(target)) or "" for c, _ in suite}
        roles = {env_value(c, "PROCESS_ROLE", resources, namespace_of(target)) or "all" for c, _ in suite}
        if "api" in roles:
            problems.append(f"{here}: scales {where(target)}, whose PROCESS_ROLE is api: it consumes nothing")
        for i, trigger in enumerate(spec.get("triggers") or []):
            if trigger.get("type") != "rabbitmq":
                continue
            queue_name = str((trigger.get("metadata") or {}).get("queueName", ""))
            queues = [q for q in SUBSCRIPTION_QUEUES for p in prefixes if queue_name == f"{p}{q}"]
            if not queues:
                problems.append(f"{here} trigger {i}: queueName {queue_name!r} is none of {SUBSCRIPTION_QUEUES}")
                continue
            covered.update(queues)
            owner = queues[0].split(".")[0]
            if owner not in services:
                problems.append(
                    f"{here} trigger {i}: {queue_name} is {owner}'s queue; the target runs {sorted(services)}"
                )
            auth = (trigger.get("authenticationRef") or {}).get("name")
            if auth is None or (namespace_of(scaled), auth) not in authentications:
                problems.append(f"{here} trigger {i}: authenticationRef {auth!r} is no rendered TriggerAuthentication")
    uncovered = [q for q in SUBSCRIPTION_QUEUES if q not in covered]
    if uncovered:
        problems.append(f"no ScaledObject scales on the queues {uncovered}")
    return problems


def check_alert_rules(resources: list[Resource], suite_metrics: set[str]) -> list[str]:
    """Every PrometheusRule expression parses (brackets, strings, functions) and names only metrics that exist: the
    suite's, the rules' own recorded series, RabbitMQ's documented ones, kube-state-metrics' and `up`."""
    rules = of_kind(resources, "PrometheusRule", "monitoring.coreos.com")
    problems = [] if rules else ["no PrometheusRule rendered"]
    groups = [(r, g) for r in rules for g in (r.get("spec") or {}).get("groups") or []]
    recorded = {str(rule["record"]) for _, g in groups for rule in g.get("rules") or [] if "record" in rule}
    for resource, group in groups:
        for rule in group.get("rules") or []:
            label = f"{where(resource)} group {group.get('name')} {rule.get('alert') or rule.get('record')}"
            found, metrics = promql.check(str(rule.get("expr", "")))
            problems += [f"{label}: {p}" for p in found]
            unknown = sorted(m for m in metrics if not metric_exists(m, suite_metrics, recorded))
            if unknown:
                problems.append(f"{label}: metrics that do not exist {unknown} in {rule.get('expr')!r}")
    return problems


def check_commands(resources: list[Resource]) -> list[str]:
    """The suite's Jobs run `migrate`, its Deployments `serve` (never `run`, which migrates in every replica), and
    every deployed service with migrations has its migrations Job."""
    problems: list[str] = []
    for workload, container, _ in suite_containers(resources):
        said, kind = words(container), workload.get("kind")
        if kind == "Job" and ("migrate" not in said or {"serve", "run"} & set(said)):
            problems.append(f"{where(workload, container)}: a Job runs {said}, not `migrate`")
        if kind == "Deployment" and ("serve" not in said or {"migrate", "run"} & set(said)):
            problems.append(f"{where(workload, container)}: a Deployment runs {said}, not `serve`")
    deployed = {s for _, _, s in suite_containers(resources, "Deployment")}
    migrated = {s for _, c, s in suite_containers(resources, "Job") if "migrate" in words(c)}
    problems += [
        f"{s} is deployed without a migrations Job" for s in sorted(deployed & set(MIGRATED_SERVICES) - migrated)
    ]
    return problems


def check_images(resources: list[Resource]) -> list[str]:
    """Every container image (the suite's and the engines') and every image an operator's resource names is pinned:
    a tag other than `latest`, or a digest."""
    problems = [
        f"{where(workload, container)}: image {container.get('image')!r} is {problem}"
        for workload, container in workloads(resources)
        if (problem := image_problem(str(container.get("image", "")))) is not None
    ]
    for kind, field in CUSTOM_RESOURCE_IMAGES:
        for resource in of_kind(resources, kind):
            image = (resource.get("spec") or {}).get(field)
            if image is not None and (problem := image_problem(str(image))) is not None:
                problems.append(f"{where(resource)}: spec.{field} {image!r} is {problem}")
    return problems
