"""What a model version was made from, beyond its data: the base model's files and the code that trained it.

A model-risk review must be able to rebuild a version, or explain it, a year later. The registry keeps the
message IDs and the classes they had (`dataset.json`), the configuration and the library versions; this adds
a digest of the base model's files (`POSTROOM_BASE_MODEL` names a folder that can be replaced in place) and
Postroom's own version and git commit (None where the code is not a git checkout, as in the image).
"""

from __future__ import annotations

import hashlib
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from training.registry import file_sha256

REPO_ROOT = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> str | None:
    """One SHA-256 over every file under `root`: each file's relative path and the SHA-256 of its content,
    one line each in path order (so no two different folders give the same lines); None when `root` is not
    a folder (a hub id)."""
    if not root.is_dir():
        return None
    lines = [
        f"{file_sha256(path)}  {path.relative_to(root).as_posix()}\n"
        for path in sorted(p for p in root.rglob("*") if p.is_file())
    ]
    return hashlib.sha256("".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def provenance(base_model: str) -> dict[str, Any]:
    """The base model's digest and the code's version, commit and whether it had uncommitted changes."""
    try:
        postroom_version: str | None = version("postroom")
    except PackageNotFoundError:
        postroom_version = None
    commit = _git("rev-parse", "HEAD") if (REPO_ROOT / ".git").exists() else None
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "base_model_sha256": tree_digest(Path(base_model)),
        "postroom_version": postroom_version,
        "git_commit": commit,
        "git_uncommitted_changes": bool(status) if status is not None else None,
    }
