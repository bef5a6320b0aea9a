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
                raise PolicyError(f"{path} section '{section}' is invalid:\n{exc}") from exc
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
