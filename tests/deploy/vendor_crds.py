"""Vendor the `openAPIV3Schema` of operators' CustomResourceDefinitions into deploy/k8s/crds/.

Reads CRD YAML (files, directories of *.yaml / *.yml, or `-` for standard input) and writes, for every
*served* version of every CRD found, `<out>/<group>/<kind in lower case>_<version>.json`: that version's
`openAPIV3Schema` exactly as the operator publishes it, minus its `description` texts (documentation only,
about four fifths of the bytes; `--keep-descriptions` keeps them). Nothing else is changed: the strict JSON
Schema form the tests validate with is derived at test time (tests/deploy/manifests.py), so a refreshed file
is the operator's schema and a diff shows only the operator's changes.

Refresh (the exact commands per operator are in deploy/k8s/crds/VERSIONS.md):

    git -C <clone> show <tag>:<path to the CRD yaml> | .tools/bin/uv run --frozen python tests/deploy/vendor_crds.py -
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CRDS_DIR = REPO / "deploy" / "k8s" / "crds"

# Keywords of an OpenAPI v3 schema object whose value is a map of name -> schema: the names are data, so a
# property called "description" is kept; only the `description` keyword of a schema object is dropped.
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "additionalItems")


def strip_descriptions(schema: Any) -> Any:
    """A copy of `schema` without the `description` keyword of any schema object in it."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strip_descriptions(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strip_descriptions(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = strip_descriptions(value)  # a schema, or a boolean left as it is
        else:
            out[key] = value  # enum, default, example, required, x-kubernetes-*: data, copied verbatim
    return out


def crd_documents(sources: Iterable[str]) -> Iterator[dict[str, Any]]:
    for source in sources:
        if source == "-":
            texts = [sys.stdin.read()]
        else:
            path = Path(source)
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
            texts = [f.read_text(encoding="utf-8") for f in files]
        for text in texts:
            for doc in yaml.safe_load_all(text):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    yield doc


def schema_files(crd: dict[str, Any], keep_descriptions: bool) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(relative path, schema) for every served version of one CRD."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    for version in spec["versions"]:
        if not version.get("served", False):
            continue
        schema = version.get("schema", {}).get("openAPIV3Schema")
        if schema is None:
            raise SystemExit(f"{kind}.{group}/{version['name']}: served but has no openAPIV3Schema")
        if not keep_descriptions:
            schema = strip_descriptions(schema)
        yield Path(group) / f"{kind.lower()}_{version['name']}.json", schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="CRD YAML files, directories of them, or - for stdin")
    parser.add_argument("--out", type=Path, default=CRDS_DIR, help=f"default: {CRDS_DIR.relative_to(REPO)}")
    parser.add_argument("--keep-descriptions", action="store_true", help="keep the schemas' description texts")
    args = parser.parse_args(argv)
    written = 0
    for crd in crd_documents(args.sources):
        for relative, schema in schema_files(crd, args.keep_descriptions):
            target = args.out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            print(f"wrote {target}")
            written += 1
    if not written:
        print("no served CustomResourceDefinition version found in the input", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
