"""Read an export (`<registry>/exports/<version>/`) without torch: its manifest, files and their checksums.

The layout is written by `training.export` (see `training/export/layout.py`); serving may not import it, so
the few names it needs are repeated here and a test checks they match.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from postroom.workdirs import EXPORTS_DIR
from serving.errors import ModelUnavailable

EXPORT_FORMAT = 1
EXPORT_MANIFEST = "export.json"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BodyEntry(_Entry):
    tokenizer: str
    max_seq_length: int
    lowercase: bool = False
    inputs: list[str]
    embedding_output: str = "sentence_embedding"


class LabelSetEntry(_Entry):
    body: str
    classes: list[str]
    output: str
    evidence: str | None = None  # the learned confidence's inputs (serving.evidence)


class FallbackEntry(_Entry):
    """int8's second look: rows whose top two probabilities are closer than their label set's margin run on
    `files`; `margin` is the largest (and every set's, for exports without `margins`)."""

    variant: str
    margin: float
    margins: dict[str, float] = {}
    files: dict[str, str]

    def margin_of(self, label_set: str) -> float:
        return self.margins.get(label_set, self.margin)


class VariantEntry(_Entry):
    published: bool
    reason: str = ""
    files: dict[str, str] = {}
    fallback: FallbackEntry | None = None
    # Rows may share a session run (the gate checked they score the same as alone); None: an export made
    # before the export said so (`postroom.runs.shares_runs`).
    shares_runs: bool | None = None


class ExportManifest(_Entry):
    format: int
    version: str
    created_at: str = ""
    bodies: dict[str, BodyEntry]
    label_sets: dict[str, LabelSetEntry]
    variants: dict[str, VariantEntry]
    preference: dict[str, list[str]]
    files: dict[str, str]


def export_dir(registry_dir: Path, version: str) -> Path:
    return registry_dir / EXPORTS_DIR / version


def read_export(path: Path) -> ExportManifest:
    """The validated manifest of an export directory; `ModelUnavailable` with the reason otherwise."""
    manifest = path / EXPORT_MANIFEST
    if not manifest.is_file():
        raise ModelUnavailable(f"no ONNX export at {path} ({EXPORT_MANIFEST} missing): run `postroom export`")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        parsed = ExportManifest.model_validate(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise ModelUnavailable(f"the export at {path} is unreadable: {type(exc).__name__}") from None
    if parsed.format > EXPORT_FORMAT:
        raise ModelUnavailable(
            f"the export at {path} has format {parsed.format}, newer than this service reads "
            f"({EXPORT_FORMAT})"
        )
    for name, entry in parsed.label_sets.items():
        if entry.body not in parsed.bodies:
            raise ModelUnavailable(f"the export at {path} is inconsistent: label set {name} names no body")
    return parsed


def verify_file(root: Path, relative: str, manifest: ExportManifest) -> Path:
    """The path of a listed file after checking its SHA-256 against the manifest."""
    expected = manifest.files.get(relative)
    path = root / relative
    if expected is None or not path.is_file():
        raise ModelUnavailable(f"the export at {root} lacks {relative}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ModelUnavailable(f"the export at {root} is corrupt: {relative} does not match its checksum")
    return path
