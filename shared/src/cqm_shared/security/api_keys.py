"""API keys for integrations: hashed at rest, revocable, scoped to roles and factories.

The registry is a YAML file shared by the services of a deployment (a mounted secret in
production). Only SHA-256 hashes of the keys are stored; a key is shown once, when it is
created. Revoking sets `revoked_at`; services re-read the file when it changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cqm_shared.security.principal import Principal, parse_factories, parse_roles

PREFIX = "cqm_"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class _Entry:
    key_id: str
    name: str
    digest: str
    roles: list[str]
    factories: list[str]
    revoked: bool


class ApiKeyStore:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._by_digest: dict[str, _Entry] = {}

    def _reload_if_changed(self) -> None:
        if self._path is None or not self._path.exists():
            self._by_digest = {}
            return
        info = self._path.stat()
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        data = yaml.safe_load(self._path.read_text(encoding="utf-8")) or {}
        entries = {}
        for item in data.get("keys", []):
            entry = _Entry(
                key_id=str(item["id"]),
                name=str(item.get("name", item["id"])),
                digest=str(item["sha256"]),
                roles=list(item.get("roles", [])),
                factories=list(item.get("factories", [])),
                revoked=item.get("revoked_at") is not None,
            )
            entries[entry.digest] = entry
        self._by_digest = entries
        self._stamp = stamp

    def verify(self, raw: str) -> Principal | None:
        self._reload_if_changed()
        digest = hash_key(raw)
        entry = self._by_digest.get(digest)
        if entry is None or entry.revoked or not hmac.compare_digest(entry.digest, digest):
            return None
        roles, factories = parse_roles(entry.roles), parse_factories(entry.factories)
        if not roles or not factories:
            return None
        return Principal(subject=entry.key_id, name=entry.name, roles=roles, factories=factories, kind="api_key")


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"keys": []}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.setdefault("keys", [])
    return data


def create_key(path: Path, *, name: str, roles: list[str], factories: list[str]) -> tuple[str, str]:
    """Add a key to the registry; returns (key id, the key itself: shown only now)."""
    key_id = secrets.token_hex(4)
    raw = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    data = _load(path)
    data["keys"].append(
        {
            "id": key_id,
            "name": name,
            "sha256": hash_key(raw),
            "roles": roles,
            "factories": factories,
            "created_at": datetime.now(UTC).isoformat(),
            "revoked_at": None,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return key_id, raw


def revoke_key(path: Path, key_id: str) -> bool:
    data = _load(path)
    for item in data["keys"]:
        if str(item["id"]) == key_id and item.get("revoked_at") is None:
            item["revoked_at"] = datetime.now(UTC).isoformat()
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
            return True
    return False
