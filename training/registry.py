"""The model registry on disk: one directory per training run, never overwritten.

Light on purpose: numpy and the standard library only (no torch, no setfit, no sklearn), so the serving
package can read it. Layout (file names are the constants below; see docs/training.md):

    <registry>/
      .lock                                  flock for publishing and stage changes
      .staging-<random>/                     a run being written (ignored; renamed when complete)
      v0001/
        manifest.json                        everything about the version (MANIFEST_REQUIRED keys)
        model_card.md
        dataset.json                         message IDs of the training and held-out splits, counts
        bodies/<body>/                       sentence-transformers directory (modules.json, Normalize kept)
        heads/<label_set>/head.joblib        the fitted sklearn LogisticRegression
        heads/<label_set>/coef.npy           float32 (k, d); k = 1 for two classes (binary logistic)
        heads/<label_set>/intercept.npy      float32 (k,)
        heads/<label_set>/head.json          classes in column order, body, max_seq_length, kind
        eval/<label_set>/report.json         metrics, per-class report, confusion matrix, calibration bins
        eval/<label_set>/confusion_matrix.png, reliability.png

A version's files are written once, into a staging directory renamed into place atomically. Stage changes
rewrite `manifest.json` atomically, touching only `stage` and `history`; `files` holds the SHA-256 of every
other file, `content_sha256` that of the manifest itself less `stage` and `history` (canonical JSON), and
`verify()` checks both. Stages: candidate -> approved -> production -> archived.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from postroom.errors import shown
from postroom.machine import default_actor
from postroom.workdirs import STAGING_PREFIX
from training.errors import RegistryError, VersionNotFound

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL_CARD = "model_card.md"
DATASET_FILE = "dataset.json"
BODIES_DIR = "bodies"
HEADS_DIR = "heads"
EVAL_DIR = "eval"
HEAD_PICKLE = "head.joblib"
HEAD_COEF = "coef.npy"
HEAD_INTERCEPT = "intercept.npy"
HEAD_META = "head.json"
REPORT_JSON = "report.json"
LOCK_FILE = ".lock"
VERSION_DIGITS_MAX = 9  # v0001 … v999999999; a longer number names no version (and no file name)
VERSION_PATTERN = re.compile(rf"^v(\d{{4,{VERSION_DIGITS_MAX}}})$")
CONTENT_DIGEST = "content_sha256"  # manifest key: SHA-256 of the manifest less MANIFEST_MUTABLE and itself
MANIFEST_MUTABLE = ("stage", "history")  # what stage changes rewrite (`Registry._set_stage`); never hashed


def _is_dir(path: Path) -> bool:
    """Whether `path` is a directory; a name too long for the file system is none."""
    try:
        return path.is_dir()
    except OSError:
        return False

CANDIDATE, APPROVED, PRODUCTION, ARCHIVED = "candidate", "approved", "production", "archived"
STAGES = (CANDIDATE, APPROVED, PRODUCTION, ARCHIVED)
MANIFEST_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format_version": int,
    "version": str,
    "created_at": str,
    "stage": str,
    "history": list,
    "base_model": str,
    "taxonomy": dict,
    "variant": str,
    "config": dict,
    "label_sets": dict,
    "bodies": dict,
    "metrics": dict,
    "files": dict,
}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root` except the manifest, keyed by POSIX relative path."""
    return {
        path.relative_to(root).as_posix(): file_sha256(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's immutable part: every key but `MANIFEST_MUTABLE` and `CONTENT_DIGEST`, as
    canonical JSON (sorted keys, compact separators, UTF-8), so formatting and key order do not count."""
    fixed = {k: v for k, v in manifest.items() if k not in (*MANIFEST_MUTABLE, CONTENT_DIGEST)}
    text = json.dumps(fixed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def head_probabilities(embeddings: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """The head's class probabilities from its arrays, as sklearn computes them (columns = `classes`)."""
    scores = embeddings.astype(np.float64) @ coef.T.astype(np.float64) + intercept.astype(np.float64)
    if coef.shape[0] == 1:
        positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.stack([1.0 - positive, positive], axis=1)
    scores -= scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LabelSetArtifacts:
    """Where serving finds one label set's model: the body directory and the head files."""

    label_set: str
    classes: list[str]
    body_dir: Path
    head_dir: Path
    max_seq_length: int

    @property
    def coef_path(self) -> Path:
        return self.head_dir / HEAD_COEF

    @property
    def intercept_path(self) -> Path:
        return self.head_dir / HEAD_INTERCEPT

    @property
    def pickle_path(self) -> Path:
        return self.head_dir / HEAD_PICKLE


@dataclass(frozen=True)
class ModelVersion:
    """A readable version: its directory and validated manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def stage(self) -> str:
        return str(self.manifest["stage"])

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.manifest["history"])

    @property
    def label_sets(self) -> list[str]:
        return list(self.manifest["label_sets"])

    @property
    def replaced(self) -> str | None:
        """The version this one took production from (archived then), by its last stage change; or None."""
        last = self.manifest["history"][-1] if self.manifest["history"] else {}
        replaces = last.get("replaces") if last.get("stage") == PRODUCTION else None
        return replaces if isinstance(replaces, str) else None

    def macro_f1(self) -> dict[str, float | None]:
        return {name: m.get("macro_f1") for name, m in self.manifest["metrics"].items()}

    def artifacts(self, label_set: str) -> LabelSetArtifacts:
        entry = self.manifest["label_sets"].get(label_set)
        if entry is None:
            raise RegistryError(f"version {self.version} has no label set {label_set!r} ({self.label_sets})")
        body = self.manifest["bodies"][entry["body"]]
        return LabelSetArtifacts(
            label_set=label_set,
            classes=list(entry["classes"]),
            body_dir=self.path / body["path"],
            head_dir=self.path / entry["head"],
            max_seq_length=int(body["max_seq_length"]),
        )

    def verify(self) -> list[str]:
        """Problems with the version: its manifest edited since publishing, files missing, changed, or
        unlisted. Empty when intact. A version published before `content_sha256` existed has only its files
        checked (nothing is reported for the missing digest)."""
        recorded: dict[str, str] = self.manifest["files"]
        problems = []
        sealed = self.manifest.get(CONTENT_DIGEST)
        if sealed is not None and sealed != manifest_digest(self.manifest):
            problems.append(f"changed manifest ({MANIFEST} no longer matches its {CONTENT_DIGEST})")
        actual = hash_tree(self.path)
        for rel, digest in recorded.items():
            if rel not in actual:
                problems.append(f"missing file {rel}")
            elif actual[rel] != digest:
                problems.append(f"changed file {rel}")
        problems.extend(f"unlisted file {rel}" for rel in sorted(set(actual) - set(recorded)))
        return problems


def _required_reason(reason: str, action: str) -> str:
    """`reason` stripped; `RegistryError` when blank (the history records why, never a placeholder)."""
    if not reason or not reason.strip():
        raise RegistryError(f"a reason is required to {action} a version: say why (it is recorded)")
    return reason.strip()


def _not_promotable(version: ModelVersion) -> str:
    """Why a version that is not approved cannot be promoted, and what to do instead."""
    name = version.version
    if version.stage == PRODUCTION:
        return f"version {name} is already in production"
    if version.stage == ARCHIVED:
        return f"version {name} is archived; put it back with postroom models rollback --to {name}"
    return f"version {name} is {version.stage}; approve it first (postroom models approve {name})"


@dataclass(frozen=True)
class VersionEntry:
    """One directory of the registry for listings: a readable version, or the reason it is not."""

    name: str
    path: Path
    version: ModelVersion | None
    problem: str | None


VersionCheck = Callable[[ModelVersion], None]
HISTORY_REQUIRED = ("stage", "at", "by", "reason")
METRIC_NUMBERS = ("macro_f1", "accuracy", "ece", "n_eval")
MANIFEST_OPTIONAL: dict[str, type] = {
    "training": dict,
    "truncation": dict,
    "dataset": dict,
    "libraries": dict,
    "provenance": dict,  # base model files' digest, Postroom's version and commit (training.provenance)
    "model_card": str,
    CONTENT_DIGEST: str,
}


def _is_number(value: Any) -> bool:
    """A JSON number (not true/false) or null: what a metric may be."""
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _all_text(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _validate_nested(path: Path, data: dict[str, Any]) -> None:
    """Check the types inside the manifest's objects that listing, showing and loading a version read."""
    taxonomy = data["taxonomy"]
    for key in ("name", "fingerprint"):
        if not isinstance(taxonomy.get(key), str):
            raise RegistryError(f"{path}: manifest field 'taxonomy' lacks a text {key!r}")
    for name, body in data["bodies"].items():
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("path"), str)
            or not isinstance(body.get("max_seq_length"), int)
        ):
            raise RegistryError(f"{path}: body {name!r} needs a text 'path' and an integer 'max_seq_length'")
    for name, entry in data["label_sets"].items():
        if not isinstance(entry, dict) or not {"classes", "body", "head"} <= set(entry):
            raise RegistryError(f"{path}: label set {name!r} entry is incomplete")
        if not _all_text(entry["classes"]) or not isinstance(entry["head"], str):
            raise RegistryError(f"{path}: label set {name!r} needs a list of class names and a text 'head'")
        if not isinstance(entry["body"], str) or entry["body"] not in data["bodies"]:
            raise RegistryError(f"{path}: label set {name!r} names unknown body {entry['body']!r}")
    for name, metrics in data["metrics"].items():
        if not isinstance(metrics, dict):
            raise RegistryError(f"{path}: metrics of label set {name!r} are not a JSON object")
        for key in METRIC_NUMBERS:
            if not _is_number(metrics.get(key)):
                raise RegistryError(f"{path}: metric {key!r} of label set {name!r} is not a number")
    for number, entry in enumerate(data["history"], start=1):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in HISTORY_REQUIRED):
            raise RegistryError(f"{path}: history entry {number} lacks one of {', '.join(HISTORY_REQUIRED)}")
    if not all(isinstance(v, str) for v in data["files"].values()):
        raise RegistryError(f"{path}: manifest field 'files' must map file names to SHA-256 digests")
    for key, kind in MANIFEST_OPTIONAL.items():
        if key in data and not isinstance(data[key], kind):
            raise RegistryError(f"{path}: manifest field {key!r} has the wrong type")


def _validate_manifest(path: Path, data: Any) -> dict[str, Any]:
    """`data` if it is a manifest this code can read, every nested object included; else `RegistryError`."""
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: manifest is not a JSON object")
    for key, kind in MANIFEST_REQUIRED.items():
        if key not in data:
            raise RegistryError(f"{path}: manifest lacks {key!r}")
        if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            raise RegistryError(f"{path}: manifest field {key!r} has the wrong type")
    if data["format_version"] > FORMAT_VERSION:
        raise RegistryError(
            f"{path}: manifest format {data['format_version']} is newer than this Postroom reads "
            f"({FORMAT_VERSION}); upgrade Postroom"
        )
    if data["stage"] not in STAGES:
        raise RegistryError(f"{path}: unknown stage {data['stage']!r}")
    if data["version"] != path.parent.name:
        raise RegistryError(
            f"{path}: manifest says version {data['version']!r}, directory is {path.parent.name!r}"
        )
    _validate_nested(path, data)
    return data


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """The validated manifest of a version directory; `RegistryError` when missing or corrupt."""
    path = version_dir / MANIFEST
    if not path.is_file():
        raise RegistryError(f"version {version_dir.name} is corrupt: {MANIFEST} is missing ({path})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"version {version_dir.name} is corrupt: cannot read {path}: {exc}") from None
    return _validate_manifest(path, data)


class Registry:
    """Versions under one directory (`Settings.registry_dir`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- reading -----------------------------------------------------------------------------------------
    def entries(self) -> list[VersionEntry]:
        """Every version directory in version order, readable or not (a corrupt one carries its problem)."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            match = VERSION_PATTERN.match(path.name)
            if not match or not path.is_dir():
                continue
            try:
                found.append((int(match.group(1)), VersionEntry(path.name, path, self._load(path), None)))
            except RegistryError as exc:
                found.append((int(match.group(1)), VersionEntry(path.name, path, None, str(exc))))
        return [entry for _, entry in sorted(found, key=lambda item: item[0])]

    def versions(self) -> list[ModelVersion]:
        """Readable versions, oldest first."""
        return [e.version for e in self.entries() if e.version is not None]

    def _load(self, path: Path) -> ModelVersion:
        return ModelVersion(path, read_manifest(path))

    def get(self, version: str) -> ModelVersion:
        """The version named `version` (`v0003`, `3`, `latest` or `production`)."""
        name = self._normalize(version)
        path = self.root / name
        if not _is_dir(path):
            known = ", ".join(e.name for e in self.entries()) or "none"
            raise VersionNotFound(f"no model version {shown(version)} in {self.root} (versions: {known})")
        return self._load(path)

    def _normalize(self, version: str) -> str:
        if version == "latest":
            entries = self.entries()
            if not entries:
                raise VersionNotFound(f"the registry {self.root} has no versions yet; run `postroom train`")
            return entries[-1].name
        if version == PRODUCTION:
            live = self.production()
            if live is None:
                raise VersionNotFound(f"no version of {self.root} is in production")
            return live.version
        if version.isascii() and version.isdigit() and len(version) <= VERSION_DIGITS_MAX:  # not "¹"
            return f"v{int(version):04d}"
        if not VERSION_PATTERN.match(version):  # never a path: nothing outside the registry is read
            known = ", ".join(e.name for e in self.entries()) or "none"
            raise VersionNotFound(
                f"no model version {shown(version)} in {self.root}: name one as v0003, 3, latest or "
                f"production (versions: {known})"
            )
        return version

    def production(self) -> ModelVersion | None:
        """The version in production, if any."""
        live = [v for v in self.versions() if v.stage == PRODUCTION]
        if len(live) > 1:
            raise RegistryError(f"more than one production version: {', '.join(v.version for v in live)}")
        return live[0] if live else None

    # -- writing -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def new_staging_dir(self) -> Path:
        """An empty directory inside the registry to write a version into (same filesystem: atomic rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def discard(self, staging: Path) -> None:
        if staging.name.startswith(STAGING_PREFIX):
            shutil.rmtree(staging, ignore_errors=True)

    def publish(
        self,
        staging: Path,
        manifest: dict[str, Any],
        actor: str | None = None,
        render: dict[str, Callable[[dict[str, Any], Path], str]] | None = None,
    ) -> ModelVersion:
        """Give `staging` the next version number and move it into place; it starts as a candidate.

        `render` maps file names to functions of the final manifest (version number included) and the
        staging directory (its eval reports and dataset file are there), written into the version before its
        files are hashed: the model card.
        """
        if not staging.is_dir() or staging.parent.resolve() != self.root.resolve():
            raise RegistryError(f"staging directory {staging} is not inside the registry {self.root}")
        with self.lock():
            numbers = [int(m.group(1)) for p in self.root.iterdir() if (m := VERSION_PATTERN.match(p.name))]
            number = max(numbers, default=0) + 1
            while True:
                name = f"v{number:04d}"
                if (self.root / name).exists():
                    number += 1
                    continue
                record = dict(manifest)
                record.update(
                    format_version=FORMAT_VERSION,
                    version=name,
                    stage=CANDIDATE,
                    history=[
                        {
                            "stage": CANDIDATE,
                            "from": None,
                            "at": utc_now(),
                            "by": actor or default_actor(),
                            "os_user": default_actor(),
                            "action": "train",
                            "reason": "trained",
                        }
                    ],
                )
                for file_name, make in (render or {}).items():
                    (staging / file_name).write_text(make(record, staging), encoding="utf-8")
                record["files"] = hash_tree(staging)
                record = json.loads(json.dumps(record))  # hash what readers get back (tuples are lists …)
                record[CONTENT_DIGEST] = manifest_digest(record)
                _write_json_atomic(staging / MANIFEST, record)
                try:
                    os.rename(staging, self.root / name)  # fails if the name exists: nothing is overwritten
                except OSError:
                    number += 1
                    continue
                return self._load(self.root / name)

    def _set_stage(
        self,
        version: ModelVersion,
        stage: str,
        actor: str,
        action: str,
        reason: str,
        replaces: str | None = None,
    ) -> ModelVersion:
        """Record the stage change, with the OS account that made it beside `actor` (who it is recorded as);
        `replaces` names the version this one took production from."""
        manifest = read_manifest(version.path)  # re-read under the lock
        entry: dict[str, Any] = {
            "stage": stage,
            "from": manifest["stage"],
            "at": utc_now(),
            "by": actor,
            "os_user": default_actor(),  # the account that ran it, whoever `by` names
            "action": action,
            "reason": reason,
        }
        if replaces is not None:
            entry["replaces"] = replaces
        manifest["stage"] = stage
        manifest["history"] = [*manifest["history"], entry]
        _write_json_atomic(version.path / MANIFEST, manifest)
        return self._load(version.path)

    def _require_intact(self, version: ModelVersion) -> None:
        problems = version.verify()
        if problems:
            raise RegistryError(
                f"version {version.version} is corrupt and cannot change stage: " + "; ".join(problems[:5])
            )

    def approve(self, version: str, actor: str | None = None, reason: str = "") -> ModelVersion:
        """candidate -> approved, recording `reason` (stripped; never a placeholder).

        Raises:
            RegistryError: `reason` is blank, or the version is not an intact candidate.
        """
        reason = _required_reason(reason, "approve")
        with self.lock():
            current = self.get(version)
            if current.stage != CANDIDATE:
                raise RegistryError(
                    f"version {current.version} is {current.stage}; only a candidate can be approved"
                )
            self._require_intact(current)
            return self._set_stage(current, APPROVED, actor or default_actor(), "approve", reason)

    def promote(
        self, version: str, actor: str | None = None, reason: str = "", check: VersionCheck | None = None
    ) -> ModelVersion:
        """approved -> production; the version in production until now is archived.

        `reason` is optional here (as `postroom models promote --reason`): approving recorded why. `check` may
        refuse the target (raise) before anything changes: the CLI's needs an ONNX export.
        The target's history entry names the version it replaced (`replaces`, see `replaced`).
        """
        with self.lock():
            target = self.get(version)
            if target.stage != APPROVED:
                raise RegistryError(_not_promotable(target))
            self._require_intact(target)
            if check is not None:
                check(target)
            by = actor or default_actor()
            live = self.production()
            if live is not None:
                self._set_stage(live, ARCHIVED, by, "supersede", f"superseded by {target.version}")
            return self._set_stage(
                target, PRODUCTION, by, "promote", reason.strip(), live.version if live else None
            )

    def rollback(
        self,
        to: str | None = None,
        actor: str | None = None,
        reason: str = "",
        check: VersionCheck | None = None,
    ) -> ModelVersion:
        """Archive the production version and put back the one that was in production before it (or `to`).

        `check` may refuse the version to restore (raise) before anything changes, as in `promote`.
        The restored version's history entry names the archived one (`replaces`, see `replaced`).

        Raises:
            RegistryError: `reason` is blank, or there is nothing (intact) to roll back to.
        """
        reason = _required_reason(reason, "roll back")
        with self.lock():
            live = self.production()
            if live is None:
                raise RegistryError("no version is in production; nothing to roll back")
            if to is not None:
                target = self.get(to)
                if target.version == live.version:
                    raise RegistryError(f"version {live.version} is already in production")
                if not any(h["stage"] == PRODUCTION for h in target.history) and target.stage != APPROVED:
                    raise RegistryError(
                        f"version {target.version} was never in production and is not approved; cannot roll "
                        "back to it"
                    )
            else:
                target = self._previous_production(live)
            self._require_intact(target)
            if check is not None:
                check(target)
            by = actor or default_actor()
            self._set_stage(live, ARCHIVED, by, "rollback", f"rolled back to {target.version}: {reason}")
            return self._set_stage(target, PRODUCTION, by, "restore", reason, live.version)

    def production_stack(self) -> list[str]:
        """Versions in production over time, as a stack: promote pushes, rollback pops (live one last)."""
        events = sorted(
            (h["at"], v.version, h.get("action"))
            for v in self.versions()
            for h in v.history
            if h.get("action") in ("promote", "restore", "rollback")
        )
        stack: list[str] = []
        for _, version, action in events:
            if action == "promote":
                stack.append(version)
            elif action == "rollback" and stack and stack[-1] == version:
                stack.pop()
            elif action == "restore":
                if version in stack:
                    del stack[stack.index(version) + 1 :]
                else:
                    stack.append(version)
        return stack

    def _previous_production(self, live: ModelVersion) -> ModelVersion:
        """The version that was in production before the live one (rolled-back stints are skipped)."""
        stack = self.production_stack()
        if len(stack) < 2 or stack[-1] != live.version:
            raise RegistryError(f"no version was in production before {live.version}; name one with --to")
        return self.get(stack[-2])
