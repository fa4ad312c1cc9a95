"""API keys with roles, stored hashed in a JSON file (`POSTROOM_API_KEYS_FILE`, default
data_dir/api-keys.json).

A key is 32 random bytes (`pr_…`), shown once when created. The file keeps per key its name, role, a random
salt and SHA-256(salt + key). A fast hash is sound here because keys are random, not chosen by people:
there is nothing to guess from a dictionary, and checking a key costs microseconds on every request (a slow
hash such as scrypt exists to protect low-entropy passwords). The file is re-read when it changes, so keys
are added or revoked without a restart (`postroom keys add|remove`, which hold a lock on a sibling file while
they change it). Key names (`NAME_RULE`) are checked when a key is added.

Roles: `router` (messages, classify; the CRM's message router), `lead` (thresholds), `admin` (models, and
everything else). A request without a valid key gets 401, a valid key with the wrong role 403.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import threading
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from postroom.errors import ConfigError, shown
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


NAME_MAX = 64
NAME_CHARS = frozenset(string.ascii_letters + string.digits + "._@-")
NAME_RULE = "1-64 characters: letters a-z A-Z, digits and . _ @ -, starting with a letter or digit"
FIELDS = tuple(f.name for f in fields(ApiKey))
REQUIRED = tuple(f for f in FIELDS if f != "created_at")
SALT = re.compile(r"(?:[0-9a-fA-F]{2})+")
DIGEST = re.compile(r"[0-9a-f]{64}")


def check_name(name: str) -> str:
    """`name` if it is a valid key name (`NAME_RULE`); else a `ConfigError` that says what is wrong.

    The name is printed by the CLI and recorded as the actor of a key's changes: no control characters,
    markup brackets or look-alike letters."""
    if not name:
        raise ConfigError("a key needs a name (who uses it)")
    if len(name) > NAME_MAX:
        raise ConfigError(f"a key name has at most {NAME_MAX} characters, got {len(name)}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ConfigError(f"key name {shown(name)} contains a control character or another invisible one")
    odd = next((c for c in name if c not in NAME_CHARS), None)
    if odd is not None:
        raise ConfigError(f"key name {shown(name)}: {odd!r} is not allowed; a name has {NAME_RULE}")
    if not name[0].isalnum():
        raise ConfigError(f"key name {shown(name)} must start with a letter or digit")
    return name


def _entry(path: Path, number: int, entry: object) -> ApiKey:
    """Entry `number` (from 1) of the keys file, checked field by field."""
    where = f"API keys file {path}: entry {number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a JSON object")
    missing = [f for f in REQUIRED if f not in entry]
    if missing:
        raise ConfigError(f"{where} has no {', '.join(missing)}")
    unknown = sorted(str(f) for f in entry if f not in FIELDS)
    if unknown:
        raise ConfigError(f"{where} has an unknown field {shown(unknown[0])}")
    wrong = next((f for f in FIELDS if f in entry and not isinstance(entry[f], str)), None)
    if wrong is not None:
        raise ConfigError(f"{where}: {wrong} is not a string")
    key = ApiKey(**entry)
    where = f"{where} ({shown(key.name)})"
    if not SALT.fullmatch(key.salt):
        raise ConfigError(f"{where}: salt is not hexadecimal")
    if not DIGEST.fullmatch(key.sha256):
        raise ConfigError(f"{where}: sha256 is not 64 lowercase hexadecimal digits")
    if key.role not in ROLES:
        raise ConfigError(f"API keys file {path}: key {shown(key.name)} has unknown role {shown(key.role)}")
    return key


def _load_json(path: Path) -> object:
    """The file's JSON (None when there is no file); a `ConfigError` that says why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigError(f"API keys file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"API keys file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"API keys file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):
        raise ConfigError(
            f"API keys file {path} is not valid JSON (nested too deeply or a huge number)"
        ) from None


def _read(path: Path) -> list[ApiKey]:
    data = _load_json(path)
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f'API keys file {path} is not a JSON object of keys ({{"keys": [...]}})')
    entries = data.get("keys", [])
    if not isinstance(entries, list):
        raise ConfigError(f'API keys file {path}: "keys" is not a list')
    return [_entry(path, number, entry) for number, entry in enumerate(entries, 1)]


def _write(path: Path, keys: list[ApiKey]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"keys": [asdict(k) for k in keys]}, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the API keys file {path}: {exc.strerror or exc}") from None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the keys file's sibling `.NAME.lock` while reading, changing and writing it:
    `keys add` and `keys remove` run in parallel (separate processes) lose no write."""
    lock = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock the API keys file {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def add_key(path: Path, name: str, role: str) -> str:
    """Create a key, store its hash, return the key itself (shown once, never stored)."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {shown(role)}")
    check_name(name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    with _locked(path):
        keys = _read(path)
        if any(k.name == name for k in keys):
            raise ConfigError(f"a key named {shown(name)} exists already in {path}; remove it first")
        _write(path, [*keys, ApiKey(name, role, salt, hash_key(key, salt), created)])
    return key


def remove_key(path: Path, name: str) -> None:
    """Revoke the key named `name` (any name the file holds, also one written before names were checked)."""
    with _locked(path):
        keys = _read(path)
        if not any(k.name == name for k in keys):
            raise ConfigError(f"no key named {shown(name, 200)} in {path}")
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
