"""API keys with roles, stored hashed in a JSON file (`POSTROOM_API_KEYS_FILE`, default
data_dir/api-keys.json).

A key is 32 random bytes (`pr_…`), shown once when created. The file keeps per key its name, role, a random
salt and SHA-256(salt + key). A fast hash is sound here because keys are random, not chosen by people:
there is nothing to guess from a dictionary, and checking a key costs microseconds on every request (a slow
hash such as scrypt exists to protect low-entropy passwords). The file is re-read when it changes, so keys
are added or revoked without a restart (`postroom keys add|remove`).

Roles: `router` (messages, classify; the CRM's message router), `lead` (thresholds), `admin` (models, and
everything else). A request without a valid key gets 401, a valid key with the wrong role 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from postroom.errors import ConfigError
from serving.errors import Forbidden, NotAuthenticated

Role = Literal["router", "lead", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
KEY_PREFIX = "pr_"


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    salt: str
    sha256: str
    created_at: str = ""


KEY_STATE = "api_key"  # request.state.api_key: the key `serving.middleware` authenticated for this request


def hash_key(key: str, salt: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + key.encode("utf-8")).hexdigest()


def grants(role: str, needed: str) -> bool:
    """Whether a key of `role` may call an endpoint that needs `needed` (admin may call everything)."""
    return role == needed or role == "admin"


def _read(path: Path) -> list[ApiKey]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = [ApiKey(**entry) for entry in data.get("keys", [])]
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ConfigError(f"API keys file {path} is unreadable: {type(exc).__name__}") from None
    for key in keys:
        if key.role not in ROLES:
            raise ConfigError(f"API keys file {path}: key {key.name!r} has unknown role {key.role!r}")
    return keys


def _write(path: Path, keys: list[ApiKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"keys": [asdict(k) for k in keys]}, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def add_key(path: Path, name: str, role: str) -> str:
    """Create a key, store its hash, return the key itself (shown once, never stored)."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name.strip():
        raise ConfigError("a key needs a name (who uses it)")
    keys = _read(path)
    if any(k.name == name for k in keys):
        raise ConfigError(f"a key named {name!r} exists already in {path}; remove it first")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    _write(path, [*keys, ApiKey(name, role, salt, hash_key(key, salt), created)])
    return key


def remove_key(path: Path, name: str) -> None:
    keys = _read(path)
    if not any(k.name == name for k in keys):
        raise ConfigError(f"no key named {name!r} in {path}")
    _write(path, [k for k in keys if k.name != name])


def list_keys(path: Path) -> list[ApiKey]:
    return _read(path)


class KeyStore:
    """The keys of one file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: list[ApiKey] = []
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._refresh()

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and (stamp is not None or not self._keys):
            return
        with self._lock:
            self._keys = _read(self.path) if stamp is not None else []
            self._stamp = stamp

    @property
    def count(self) -> int:
        return len(self._keys)

    def authenticate(self, presented: str | None) -> ApiKey:
        """The key presented, or `NotAuthenticated`."""
        if not presented:
            raise NotAuthenticated("an API key is required: send `Authorization: Bearer <key>`")
        try:
            self._refresh()
        except ConfigError:
            raise NotAuthenticated("the service cannot read its API keys; ask the administrator") from None
        found = None
        for key in self._keys:  # compare with every key, in constant time each
            if hmac.compare_digest(hash_key(presented, key.salt), key.sha256):
                found = key
        if found is None:
            raise NotAuthenticated("the API key is not valid")
        return found

    def authorize(self, presented: str | None, needed: str) -> ApiKey:
        return require_role(self.authenticate(presented), needed)


def require_role(key: ApiKey, needed: str) -> ApiKey:
    """`key`, if its role may call an endpoint that needs `needed`; else `Forbidden`."""
    if not grants(key.role, needed):
        raise Forbidden(f"this endpoint needs the {needed} role; key {key.name!r} has role {key.role}")
    return key
