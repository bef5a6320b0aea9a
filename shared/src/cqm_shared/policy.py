"""Per-factory policy files (rules are data).

`<policy_dir>/default.yaml` holds the seed values; `<policy_dir>/<FACTORY>.yaml` overrides
any part of it for one factory. A factory exists for the suite when it has a file. Each
service validates the section it uses with its own pydantic model when it starts, so a bad
file stops the service with a clear message instead of producing wrong deadlines or fines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

P = TypeVar("P", bound=BaseModel)
_FACTORY_FILE = re.compile(r"^[A-Z][A-Z0-9]{1,9}\.ya?ml$")


class PolicyError(ValueError):
    """A policy file is missing or invalid."""


class UnknownFactory(LookupError):
    pass


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise PolicyError(f"policy file {path} must hold a mapping")
    return loaded


def _line_of(path: Path, keys: list[Any]) -> int | None:
    """The 1-based line of the node at `keys` in a YAML file, or None when it is not there."""
    try:
        node: Any = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    line: int | None = None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if str(k.value) == str(key)]
            if not match:
                return line
            key_node, node = match[0]
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _where(files: list[Path], section: str, loc: tuple[Any, ...]) -> str:
    """`file:line` of the deepest part of an error's location found in the files (factory first)."""
    best: tuple[int, Path, int] | None = None
    keys = [section, *loc]
    for path in files:
        for depth in range(len(keys), 0, -1):
            if not _exact(path, keys[:depth]):
                continue
            line = _line_of(path, keys[:depth])
            if line is not None and (best is None or depth > best[0]):
                best = (depth, path, line)
            break
    return f"{best[1]}:{best[2]}" if best else str(files[0])


def _exact(path: Path, keys: list[Any]) -> bool:
    """Whether every key of the path exists in the file (not only a prefix of it)."""
    try:
        node: Any = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if str(k.value) == str(key)]
            if not match:
                return False
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return False
    return True


def describe(exc: ValidationError, files: list[Path], section: str) -> str:
    """One line per error, naming the file and line it comes from, e.g.
    `deploy/policies/F01.yaml:42: penalty.rule_tables.2026.1.rules.5.2.6.payers.0.amount: …`."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        dotted = ".".join(str(p) for p in (section, *loc))
        lines.append(f"{_where(files, section, loc)}: {dotted}: {error['msg']}")
    return "\n".join(lines)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def factory_files(policy_dir: Path) -> dict[str, Path]:
    if not policy_dir.is_dir():
        raise PolicyError(f"policy folder {policy_dir} does not exist (set POLICY_DIR)")
    return {p.stem: p for p in sorted(policy_dir.iterdir()) if _FACTORY_FILE.match(p.name)}


class PolicyBook(Generic[P]):
    """The validated `section` of every factory's policy, loaded once at start."""

    def __init__(self, policy_dir: Path, section: str, model: type[P]) -> None:
        default_path = policy_dir / "default.yaml"
        if not default_path.is_file():
            raise PolicyError(f"{default_path} is missing: it holds the seed defaults")
        defaults = _read(default_path)
        self._policies: dict[str, P] = {}
        for factory, path in factory_files(policy_dir).items():
            merged = deep_merge(defaults, _read(path))
            try:
                self._policies[factory] = model.model_validate(merged.get(section, {}))
            except ValidationError as exc:
                detail = describe(exc, [path, default_path], section)
                raise PolicyError(f"{path} section '{section}' is invalid:\n{detail}") from exc
        if not self._policies:
            raise PolicyError(f"no factory policy files (e.g. F01.yaml) in {policy_dir}")

    @property
    def factories(self) -> list[str]:
        return sorted(self._policies)

    def for_factory(self, factory: str) -> P:
        try:
            return self._policies[factory]
        except KeyError:
            raise UnknownFactory(factory) from None
