"""Where runs write their work in progress, and what killed runs leave behind (`postroom doctor`).

The names are shared by the writers (training's registry and trainer, the ONNX export, serving's reader of
exports) and by `doctor`, which lists `<registry>/.staging-*` (a version being written),
`<registry>/exports/.staging-*` (an export being written), `<registry>/exports/.old-*` (an export being
replaced) and `<data_dir>/tmp/train-*` (the trainer's scratch). A run deletes its own when it fails, is
interrupted or gets SIGTERM; only a killed one leaves them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import time
from pathlib import Path

from postroom.settings import Settings

STAGING_PREFIX = ".staging-"  # a version or an export being written, renamed into place when complete
EXPORTS_DIR = "exports"  # <registry>/exports/<version>/: a version's ONNX export
REPLACED_PREFIX = ".old-"  # <registry>/exports/.old-*: an export being replaced, deleted next
SCRATCH_DIR = "tmp"  # <data_dir>/tmp/: scratch space of runs
SCRATCH_PREFIX = "train-"  # <data_dir>/tmp/train-*: the trainer's scratch directory
LEFTOVERS_LISTED = 10  # more than this: the delete command names the globs, not each directory


class DoctorWarning(Exception):
    """A `doctor` finding to act on that does not fail the command (it may be a run in progress)."""


def leftover_globs(settings: Settings) -> list[Path]:
    """The glob patterns of the directories interrupted training and export runs leave behind."""
    registry = settings.registry_dir
    return [
        registry / f"{STAGING_PREFIX}*",
        registry / EXPORTS_DIR / f"{STAGING_PREFIX}*",
        registry / EXPORTS_DIR / f"{REPLACED_PREFIX}*",
        settings.data_dir / SCRATCH_DIR / f"{SCRATCH_PREFIX}*",
    ]


def _tree_size_and_mtime(path: Path) -> tuple[int, float]:
    """Bytes of the files under `path` and the latest modification in it; links are not followed, and what
    vanishes meanwhile (a run still writing) is skipped."""
    size, latest = 0, path.lstat().st_mtime
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            latest = max(latest, info.st_mtime)
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
    return size, latest


def _bytes(n: float) -> str:
    units, power = ("B", "kB", "MB", "GB"), 0
    while n >= 1000 and power < len(units) - 1:
        n, power = n / 1000, power + 1
    return f"{n:.0f} B" if power == 0 else f"{n:.1f} {units[power]}"


def _age(seconds: float) -> str:
    minutes = max(0.0, seconds) / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.0f} h" if minutes < 48 * 60 else f"{minutes / 1440:.0f} d"


def check_leftovers(settings: Settings) -> str:
    """What interrupted runs left in the registry and the data directory: a line when there is nothing;
    `DoctorWarning` naming the directories, their size and age and how to delete them otherwise."""
    try:
        found = {
            pattern: sorted(
                p for p in pattern.parent.glob(pattern.name) if p.is_dir() and not p.is_symlink()
            )
            for pattern in leftover_globs(settings)
            if pattern.parent.is_dir()
        }
        measured: dict[Path, tuple[int, float]] = {}
        for path in (p for matches in found.values() for p in matches):
            with contextlib.suppress(FileNotFoundError):  # a run that just finished removed it
                measured[path] = _tree_size_and_mtime(path)
        if not measured:
            return "no staging or scratch directories of interrupted runs"
    except OSError as exc:
        raise DoctorWarning(f"cannot look for leftovers of interrupted runs: {exc}") from None
    paths = list(measured)
    sizes, times = zip(*measured.values(), strict=True)
    now = time.time()
    ages = f"last written {_age(now - min(times))} ago"
    if len(paths) > 1:
        ages = f"oldest {ages}, newest {_age(now - max(times))} ago"
    if len(paths) <= LEFTOVERS_LISTED:
        targets = [shlex.quote(str(p)) for p in paths]
    else:
        targets = [f"{shlex.quote(str(g.parent))}/{g.name}" for g, m in found.items() if set(m) & set(paths)]
    many = "directory" if len(paths) == 1 else "directories"
    raise DoctorWarning(
        f"{len(paths)} staging or scratch {many} of interrupted training or export runs, "
        f"{_bytes(sum(sizes))}, {ages}; unless a run is in progress: rm -rf {' '.join(targets)}"
    )
