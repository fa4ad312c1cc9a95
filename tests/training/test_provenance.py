"""What a version records of its base model and code, so a review can rebuild or explain it later."""

from __future__ import annotations

import re
from pathlib import Path

from training.provenance import provenance, tree_digest


def test_the_base_models_digest_changes_with_any_of_its_files(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (base / "config.json").write_text("{}")
    (base / "sub" / "weights.bin").write_bytes(b"\0" * 10)
    first = tree_digest(base)
    assert first is not None and re.fullmatch(r"[0-9a-f]{64}", first) and tree_digest(base) == first
    (base / "sub" / "weights.bin").write_bytes(b"\0" * 9 + b"\1")
    assert tree_digest(base) != first
    (base / "sub" / "weights.bin").rename(base / "weights.bin")  # same bytes, another place
    assert tree_digest(base) not in (first, None)
    assert tree_digest(tmp_path / "sentence-transformers/some-hub-id") is None
    one, two = tmp_path / "one", tmp_path / "two"  # file contents and names do not run into each other
    for folder, files in ((one, {"a": b"X", "b": b"Y"}), (two, {"a": b"Xb\0Y"})):
        folder.mkdir()
        for name, content in files.items():
            (folder / name).write_bytes(content)
    assert tree_digest(one) != tree_digest(two)


def test_the_code_is_recorded_by_version_and_commit(tmp_path: Path) -> None:
    found = provenance(str(tmp_path))
    assert found["postroom_version"]
    if (Path(__file__).resolve().parents[2] / ".git").exists():  # a checkout (CI clones one)
        assert re.fullmatch(r"[0-9a-f]{40}", found["git_commit"])
        assert isinstance(found["git_uncommitted_changes"], bool)
