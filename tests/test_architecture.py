"""The import rules of docs/architecture.md, arrows point one way; serving has no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

COMPONENTS = ("labeling", "training", "serving", "router")
FORBIDDEN: dict[str, set[str]] = {  # `benchmarks` may import every component; nothing imports it
    "postroom": {*COMPONENTS, "benchmarks"},
    "labeling": {"training", "serving", "router", "benchmarks"},
    "training": {"labeling", "serving", "router", "benchmarks"},
    "router": {"labeling", "training", "serving", "benchmarks"},
    "serving": {"labeling", "benchmarks", "torch", "setfit", "sentence_transformers", "transformers"},
}
SERVING_MAY_USE_FROM_TRAINING = {"training.registry"}


def imports_of(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_inward(package: str) -> None:
    bad = []
    for path, module in imports_of(package):
        top = module.split(".")[0]
        if package == "serving" and top == "training":
            if module not in SERVING_MAY_USE_FROM_TRAINING:
                bad.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
        elif top in FORBIDDEN[package]:
            bad.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
    assert not bad, "\n".join(bad)


def test_core_commands_do_not_load_torch() -> None:
    code = (
        "import sys, postroom.cli, postroom.ingest.service, postroom.store, postroom.summary;"
        "postroom.cli.register_components();"
        "names = ('torch', 'setfit', 'sentence_transformers', 'transformers');"
        "heavy = sorted(m for m in names if m in sys.modules);"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"importing the CLI loaded {result.stdout.strip()}"


def test_the_image_copies_every_package_the_command_is_assembled_from() -> None:
    """The Dockerfile copies packages one by one: a component left out makes every command in the image warn
    that its commands are unavailable (as `benchmarks` once did)."""
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    targets = [*project["scripts"].values(), *project["entry-points"]["postroom.cli"].values()]
    needed = {target.split(":")[0].split(".")[0] for target in targets}
    copied = set()
    for line in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            *sources, destination = line.split()[1:]
            copied |= {source.rstrip("/") for source in sources if destination.rstrip("/") == f"./{source}"}
    assert needed == {"postroom", *COMPONENTS, "benchmarks"}
    assert needed <= copied, f"the Dockerfile does not copy {sorted(needed - copied)}"
