"""Offline validation of the Kubernetes manifests under deploy/k8s.

`render(overlay)` runs `kubectl kustomize deploy/k8s/overlays/<overlay>` (kubectl's built-in kustomize, no
cluster) and splits the output into resources. `validate(overlay, resources)` checks every resource:

- built-in kinds against the OpenAPI schemas of Kubernetes `KUBERNETES_VERSION` shipped by kubernetes-validate,
  in strict mode (an unknown field is an error);
- custom resources against the `openAPIV3Schema` of the operator's CRD vendored in deploy/k8s/crds/, converted
  to a strict JSON Schema the way kubeconform's openapi2jsonschema does it (`strict_json_schema`), with the
  resource's `metadata` checked against the built-in ObjectMeta;
- a resource of a kind that has neither is an error: nothing leaves here unvalidated.

Each error reads `<overlay> <kind>/<name>: <json path>: <message>`.

Also a command for whoever edits the manifests: `.tools/bin/uv run --frozen python -m tests.deploy.manifests
[overlay ...]` prints the errors of the named overlays (default: all) and exits 1 if there is any.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]
from kubernetes_validate.utils import schema_contents  # type: ignore[import-untyped]
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[2]
K8S_DIR = REPO / "deploy" / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
CRDS_DIR = K8S_DIR / "crds"

# The Kubernetes version whose built-in API schemas the manifests are validated against: 1.33, the oldest minor the
# sites' clusters are meant to run. Validating against the oldest API server a manifest will meet makes a field or
# an API version that only newer servers know fail here rather than at the site with the oldest cluster (newer
# servers keep accepting what 1.33 accepts). The vendored operators' own floors may be higher (CloudNativePG 1.30
# supports 1.34-1.36 and only tests 1.30-1.33; see deploy/k8s/crds/VERSIONS.md): raise this with the oldest cluster.
KUBERNETES_VERSION = "1.33.0"

KUBECTL_HOW_TO = (
    "kubectl (with its built-in kustomize) renders the overlays offline; it is not installed. Install it: "
    "`apt-get install -y kubectl` from the Kubernetes apt repository (https://pkgs.k8s.io/core:/stable:/v1.33/deb/), "
    "or download the binary: `curl -LO https://dl.k8s.io/release/v1.33.0/bin/linux/amd64/kubectl && "
    "install -m 0755 kubectl /usr/local/bin/kubectl`; or set KUBECTL to its path."
)

# The built-in ObjectMeta (strict), which every custom resource's `metadata` is checked against.
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_MESSAGE_LIMIT = 400


class KubectlNotFound(RuntimeError):
    pass


class RenderError(RuntimeError):
    pass


FALLBACK_KUBECTL = "/usr/bin/kubectl"


def kubectl() -> str:
    """The kubectl to render with: $KUBECTL, else the one on PATH, else /usr/bin/kubectl."""
    for candidate in (os.environ.get("KUBECTL"), shutil.which("kubectl"), FALLBACK_KUBECTL):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise KubectlNotFound(KUBECTL_HOW_TO)


def overlays() -> list[str]:
    """Every overlay: each directory under deploy/k8s/overlays with a kustomization file."""
    if not OVERLAYS_DIR.is_dir():
        return []
    names = ("kustomization.yaml", "kustomization.yml", "Kustomization")
    return sorted(d.name for d in OVERLAYS_DIR.iterdir() if d.is_dir() and any((d / n).is_file() for n in names))


def render_path(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize <path>`, split into resources (empty documents dropped)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {path.relative_to(REPO)} failed:\n{result.stderr.strip()}")
    return split_documents(result.stdout)


@functools.cache
def _render_cached(overlay: str) -> str:
    return json.dumps(render_path(OVERLAYS_DIR / overlay))


def render(overlay: str) -> list[dict[str, Any]]:
    """The overlay's resources, rendered once per process (each caller gets its own copy)."""
    resources: list[dict[str, Any]] = json.loads(_render_cached(overlay))
    return resources


def split_documents(text: str) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise RenderError(f"a rendered document is not a mapping: {str(doc)[:200]}")
        resources.append(doc)
    return resources


def resource_id(resource: dict[str, Any]) -> str:
    metadata = resource.get("metadata") or {}
    name = metadata.get("name", "<no name>") if isinstance(metadata, dict) else "<no name>"
    return f"{resource.get('kind', '<no kind>')}/{name}"


# --- the CRD schemas -------------------------------------------------------------------------------------------


def strict_json_schema(schema: Any) -> Any:
    """An OpenAPI v3 (Kubernetes structural) schema as a strict JSON Schema.

    As kubeconform's openapi2jsonschema: every object schema with `properties` gets `additionalProperties: false`
    unless it has its own `additionalProperties` or `x-kubernetes-preserve-unknown-fields: true`; `nullable: true`
    adds "null" to the type (and to an enum); `x-kubernetes-int-or-string: true` (or format int-or-string) means
    an integer or a string; an `x-kubernetes-embedded-resource` object also accepts apiVersion, kind and metadata;
    the other x-kubernetes-* keywords (list types, CEL validations...) are not JSON Schema and are dropped.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: strict_json_schema(sub) for name, sub in value.items()}
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [strict_json_schema(sub) for sub in value]
        elif key in ("items", "additionalProperties", "not"):
            out[key] = strict_json_schema(value)
        elif key == "nullable" or key.startswith("x-kubernetes-") or (key == "format" and value == "int-or-string"):
            continue
        elif key == "pattern" and isinstance(value, str):
            out[key] = python_pattern(value)
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string") is True or schema.get("format") == "int-or-string":
        out["type"] = ["integer", "string"]
    if schema.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if schema.get("x-kubernetes-embedded-resource") is True and "properties" in out:
        out["properties"] = {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            **out["properties"],
        }
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


_FLAGS_AFTER_ANCHOR = re.compile(r"\^((?:\(\?[ims]+\))+)(.*)", re.DOTALL)


def python_pattern(pattern: str) -> str:
    """A Go (RE2) `pattern` as a Python regular expression with the same meaning.

    RE2 accepts inline flags after the `^` anchor (`^(?i)(abort|warn)?$` in the Prometheus Operator's CRD); Python
    only at the very start, where they mean the same thing, so they are moved there. Any other pattern Python
    cannot compile fails loudly: a constraint is never dropped.
    """
    try:
        re.compile(pattern)
        return pattern
    except re.error:
        pass
    moved = _FLAGS_AFTER_ANCHOR.fullmatch(pattern)
    if moved is None:
        raise ValueError(f"a CRD pattern Python cannot compile: {pattern!r}; teach python_pattern() to translate it")
    translated = f"{moved.group(1)}^{moved.group(2)}"
    re.compile(translated)
    return translated


@functools.lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    strict_dir = f"v{KUBERNETES_VERSION}-local-strict"
    definitions: dict[str, Any] = schema_contents(
        f"kubernetes-json-schema/{strict_dir}/_definitions.json", KUBERNETES_VERSION
    )
    return definitions


@functools.lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    definitions = _definitions()
    uri: str = definitions["$id"]
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(definitions))
    return registry


def vendored_crds() -> dict[tuple[str, str], Path]:
    """(apiVersion, kind in lower case) -> the vendored openAPIV3Schema file (<group>/<kind>_<version>.json)."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(CRDS_DIR.glob("*/*.json")):
        kind, _, version = path.stem.rpartition("_")
        found[(f"{path.parent.name}/{version}", kind)] = path
    return found


@functools.cache
def crd_validator(api_version: str, kind: str) -> Any:
    """The strict validator of one vendored custom resource kind, or None when none is vendored."""
    path = vendored_crds().get((api_version, kind.lower()))
    if path is None:
        return None
    schema = strict_json_schema(json.loads(path.read_text(encoding="utf-8")))
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "enum": [api_version]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["metadata"] = {"$ref": f"{_definitions()['$id']}#/$defs/{_OBJECT_META}"}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["additionalProperties"] = False
    return Draft202012Validator(schema, registry=_registry())


# --- validation --------------------------------------------------------------------------------------------------


def _json_path(path: Iterable[Any]) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, the most relevant error of the branches (jsonschema's best_match)."""
    while error.context:
        better = best_match(error.context)
        if better is None:
            break
        error = better
    return error


def _describe(overlay: str, resource: dict[str, Any], error: ValidationError) -> str:
    error = _deepest(error)
    message = error.message if len(error.message) <= _MESSAGE_LIMIT else error.message[:_MESSAGE_LIMIT] + "…"
    return f"{overlay} {resource_id(resource)}: {_json_path(error.absolute_path)}: {message}"


@functools.cache
def _builtin_validator(api_version: str, kind: str) -> Any:
    """The validator kubernetes-validate builds for a built-in kind (same files, same rule for the file name),
    used to list *every* error of a resource it rejected: `validate` raises only the best match."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(
        f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict/{kind.lower()}-{group_version}.json",
        KUBERNETES_VERSION,
    )
    return Draft202012Validator(schema, registry=Resource.from_contents(schema) @ _registry())


def _builtin_errors(overlay: str, resource: dict[str, Any]) -> list[str] | None:
    """Errors of a built-in kind (strict), or None when Kubernetes KUBERNETES_VERSION has no such kind."""
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as first:
        try:
            every = list(_builtin_validator(resource["apiVersion"], resource["kind"]).iter_errors(resource))
        except Exception:  # the listing is a courtesy: kubernetes-validate's own verdict stands
            every = []
        errors = sorted(every, key=lambda e: list(map(str, e.absolute_path))) or [first]
        return [_describe(overlay, resource, e) for e in errors]
    return []


def validate_resource(overlay: str, resource: dict[str, Any]) -> list[str]:
    api_version, kind = resource.get("apiVersion"), resource.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return [f"{overlay} {resource_id(resource)}: $: a resource needs a string apiVersion and kind"]
    validator = crd_validator(api_version, kind)
    if validator is not None:
        errors = sorted(validator.iter_errors(resource), key=lambda e: list(map(str, e.absolute_path)))
        return [_describe(overlay, resource, e) for e in errors]
    builtin = _builtin_errors(overlay, resource)
    if builtin is not None:
        return builtin
    return [
        f"{overlay} {resource_id(resource)}: $.apiVersion: no schema for kind {kind} of {api_version}: it is "
        f"neither a built-in kind of Kubernetes {KUBERNETES_VERSION} nor a custom resource whose CRD is "
        f"vendored in {CRDS_DIR.relative_to(REPO)} (add it there with tests/deploy/vendor_crds.py)"
    ]


def validate(overlay: str, resources: Iterable[dict[str, Any]]) -> list[str]:
    """Every error of the overlay's resources, as `<overlay> <kind>/<name>: <json path>: <message>`."""
    errors: list[str] = []
    for resource in resources:
        errors.extend(validate_resource(overlay, resource))
    return errors


def validate_overlay(overlay: str) -> list[str]:
    return validate(overlay, render(overlay))


def _main(names: list[str]) -> Iterator[str]:
    for overlay in names or overlays():
        try:
            yield from validate_overlay(overlay)
        except (RenderError, KubectlNotFound) as problem:
            yield f"{overlay}: {problem}"


if __name__ == "__main__":
    problems = list(_main(sys.argv[1:]))
    print("\n".join(problems) if problems else f"valid: {', '.join(sys.argv[1:] or overlays())}")
    raise SystemExit(1 if problems else 0)
