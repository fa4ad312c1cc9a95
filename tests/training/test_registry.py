"""The registry: versions on disk, stage changes with history, corrupt entries, nothing overwritten."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.errors import RegistryError, VersionNotFound
from training.registry import MANIFEST, ModelVersion, Registry, head_probabilities


def _manifest(f1: float = 0.8) -> dict[str, Any]:
    return {
        "created_at": "2026-03-01T10:00:00+00:00",
        "base_model": "minilm",
        "taxonomy": {"name": "mini", "fingerprint": "abc"},
        "variant": "shared",
        "config": {"seed": 0},
        "label_sets": {"topic": {"classes": ["a", "b"], "body": "shared", "head": "heads/topic"}},
        "bodies": {
            "shared": {"path": "bodies/shared", "max_seq_length": 128, "embedding_dim": 4, "normalize": True}
        },
        "metrics": {"topic": {"macro_f1": f1, "accuracy": f1, "n_eval": 10}},
    }


def publish(registry: Registry, f1: float = 0.8, payload: str = "weights") -> str:
    staging = registry.new_staging_dir()
    (staging / "bodies" / "shared").mkdir(parents=True)
    (staging / "bodies" / "shared" / "model.bin").write_text(payload)
    (staging / "heads" / "topic").mkdir(parents=True)
    (staging / "heads" / "topic" / "coef.npy").write_text("coef")
    return registry.publish(staging, _manifest(f1), actor="trainer").version


def test_publish_numbers_versions_and_starts_as_candidate(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    assert [publish(registry), publish(registry)] == ["v0001", "v0002"]
    model = registry.get("v0001")
    assert model.stage == "candidate"
    assert model.history[0]["by"] == "trainer"
    assert model.verify() == []
    assert registry.get("latest").version == "v0002" and registry.get("1").version == "v0001"
    assert not list((tmp_path / "models").glob(".staging-*"))


def test_nothing_is_overwritten(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    publish(registry, payload="first")
    before = (tmp_path / "models" / "v0001" / "bodies" / "shared" / "model.bin").read_text()
    (tmp_path / "models" / "v0002").mkdir()  # an empty, corrupt directory takes its number
    assert publish(registry, payload="second") == "v0003"
    assert (
        (tmp_path / "models" / "v0001" / "bodies" / "shared" / "model.bin").read_text() == before == "first"
    )


def test_approve_promote_rollback_history(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(3):
        publish(registry)
    with pytest.raises(RegistryError, match="approve it first"):
        registry.promote("v0001", "lead")
    for version in ("v0001", "v0002", "v0003"):
        registry.approve(version, "lead", "looks fine")
    first = registry.promote("v0001", "lead", "first release")
    assert first.replaced is None and "replaces" not in first.history[-1]
    second = registry.promote("v0002", "lead")
    assert second.replaced == "v0001" and second.history[-1]["reason"] == ""  # no placeholder
    assert registry.get("v0001").history[1]["reason"] == "looks fine"
    assert registry.get("v0001").stage == "archived"
    assert registry.production().version == "v0002"  # type: ignore[union-attr]
    registry.promote("v0003", "lead")
    restored = registry.rollback(actor="oncall", reason="F1 dropped")
    assert restored.version == "v0002" and restored.replaced == "v0003"
    assert restored.history[-1]["reason"] == "F1 dropped"
    assert registry.get("v0003").stage == "archived"
    assert registry.get("v0003").history[-1]["action"] == "rollback"
    assert registry.get("v0003").history[-1]["by"] == "oncall"
    again = registry.rollback(actor="oncall", reason="still bad")  # v0003 was rolled back: on to v0001
    assert again.version == "v0001"
    with pytest.raises(RegistryError, match="no version was in production before"):
        registry.rollback(reason="still bad")
    stages = [h["stage"] for h in registry.get("v0002").history]
    assert stages == ["candidate", "approved", "production", "archived", "production", "archived"]
    with pytest.raises(RegistryError, match="only a candidate"):
        registry.approve("v0002", "lead", "looks fine")


def test_corrupt_or_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    publish(registry)
    publish(registry)
    (tmp_path / "models" / "v0001" / MANIFEST).write_text("{not json")
    (tmp_path / "models" / "v0002" / MANIFEST).unlink()
    with pytest.raises(RegistryError, match="v0001 is corrupt"):
        registry.get("v0001")
    with pytest.raises(RegistryError, match="manifest.json is missing"):
        registry.get("v0002")
    entries = registry.entries()
    assert [(e.name, e.version is None) for e in entries] == [("v0001", True), ("v0002", True)]
    assert all(e.problem for e in entries)
    with pytest.raises(VersionNotFound, match="v0009"):
        registry.get("v0009")


def test_manifest_missing_a_field_or_changed_files(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    publish(registry)
    publish(registry)
    path = tmp_path / "models" / "v0001" / MANIFEST
    data = json.loads(path.read_text())
    del data["metrics"]
    path.write_text(json.dumps(data))
    with pytest.raises(RegistryError, match="lacks 'metrics'"):
        registry.get("v0001")
    (tmp_path / "models" / "v0002" / "bodies" / "shared" / "model.bin").write_text("tampered")
    assert registry.get("v0002").verify() == ["changed file bodies/shared/model.bin"]
    with pytest.raises(RegistryError, match="corrupt and cannot change stage"):
        registry.approve("v0002", "lead", "looks fine")


def test_head_probabilities_match_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    for n_classes in (2, 3):
        y = np.arange(60) % n_classes
        head = LogisticRegression(C=10).fit(x, y)
        ours = head_probabilities(x, head.coef_.astype(np.float32), head.intercept_.astype(np.float32))
        assert np.allclose(ours, head.predict_proba(x), atol=1e-5)


def test_registry_module_does_not_import_torch() -> None:
    code = (
        "import sys, training.registry, training.cli;"
        "heavy = ('torch', 'setfit', 'sentence_transformers', 'sklearn');"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_rollback_to_a_named_version(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(3):
        publish(registry)
    registry.approve("v0001", reason="card read")
    registry.approve("v0003", reason="card read")
    registry.promote("v0001")
    with pytest.raises(RegistryError, match="never in production and is not approved"):
        registry.rollback(to="v0002", reason="hotfix")
    assert registry.rollback(to="v0003", reason="hotfix").version == "v0003"
    assert registry.get("v0001").stage == "archived"
    assert registry.production_stack() == ["v0003"]


@pytest.mark.parametrize("name", ["../other/v0001", "", ".", "v0001/../../other/v0001"])
def test_a_version_name_is_never_a_path(tmp_path: Path, name: str) -> None:
    registry = Registry(tmp_path / "models")
    publish(registry)
    other = Registry(tmp_path / "other")
    publish(other)
    before = (other.root / "v0001" / MANIFEST).read_text()
    with pytest.raises(VersionNotFound, match="name one as v0003, 3, latest or production"):
        registry.get(name)
    with pytest.raises(VersionNotFound):
        registry.approve(name, "lead", "card read")
    assert (other.root / "v0001" / MANIFEST).read_text() == before
    assert registry.get("v0001").stage == "candidate"


def test_promote_says_why_a_version_that_is_not_approved_cannot_be(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(2):
        publish(registry)
        registry.approve("latest", reason="card read")
    registry.promote("v0001")
    with pytest.raises(RegistryError, match="v0001 is already in production"):
        registry.promote("v0001")
    registry.promote("v0002")
    with pytest.raises(RegistryError, match="v0001 is archived; put it back with postroom models rollback"):
        registry.promote("v0001")


def test_a_refusing_check_leaves_every_stage_as_it_was(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(3):
        publish(registry)
        registry.approve("latest", reason="card read")
    registry.promote("v0001")
    registry.promote("v0002")

    def refuse(version: ModelVersion) -> None:
        raise RegistryError(f"{version.version} refused")

    stages = {v.version: (v.stage, len(v.history)) for v in registry.versions()}
    with pytest.raises(RegistryError, match="v0003 refused"):
        registry.promote("v0003", check=refuse)
    with pytest.raises(RegistryError, match="v0001 refused"):
        registry.rollback(reason="F1 dropped", check=refuse)
    with pytest.raises(RegistryError, match="v0003 refused"):
        registry.rollback(to="v0003", reason="F1 dropped", check=refuse)
    assert {v.version: (v.stage, len(v.history)) for v in registry.versions()} == stages


def _break(registry: Registry, version: str, **fields: Any) -> None:
    """Overwrite top-level fields of a published version's manifest (as a hand edit or a bad tool would)."""
    path = registry.root / version / MANIFEST
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"metrics": {"topic": 0.8}}, "metrics of label set 'topic' are not a JSON object"),
        ({"metrics": {"topic": {"macro_f1": "high"}}}, "metric 'macro_f1' of label set 'topic' is not a"),
        ({"taxonomy": {}}, "'taxonomy' lacks a text 'name'"),
        ({"taxonomy": {"name": "mini"}}, "'taxonomy' lacks a text 'fingerprint'"),
        ({"bodies": {"shared": "bodies/shared"}}, "body 'shared' needs a text 'path'"),
        (
            {"label_sets": {"topic": {"classes": "ab", "body": "shared", "head": "heads/topic"}}},
            "label set 'topic' needs a list of class names",
        ),
        ({"history": [{"stage": "candidate"}]}, "history entry 1 lacks one of"),
        ({"history": ["trained"]}, "history entry 1 lacks one of"),
        ({"files": {"model_card.md": 1}}, "'files' must map file names"),
        ({"training": []}, "field 'training' has the wrong type"),
        ({"format_version": True}, "field 'format_version' has the wrong type"),
    ],
)
def test_a_manifest_with_wrong_nested_types_is_unreadable_and_hides_no_other_version(
    tmp_path: Path, fields: dict[str, Any], reason: str
) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(3):
        publish(registry)
    _break(registry, "v0002", **fields)
    with pytest.raises(RegistryError, match=reason):
        registry.get("v0002")
    entries = registry.entries()
    assert [(e.name, e.version is not None) for e in entries] == [
        ("v0001", True),
        ("v0002", False),
        ("v0003", True),
    ]
    assert reason in (entries[1].problem or "")
    assert [v.macro_f1() for v in registry.versions()] == [{"topic": 0.8}, {"topic": 0.8}]


def test_a_complete_manifest_passes_the_nested_checks(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    publish(registry)
    _break(registry, "v0001", metrics={"topic": {"macro_f1": None, "accuracy": 1, "n_eval": 10}})
    assert registry.get("v0001").macro_f1() == {"topic": None}


def test_production_names_the_live_version_and_odd_digits_name_none(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    publish(registry)
    with pytest.raises(VersionNotFound, match="is in production"):
        registry.get("production")
    registry.approve("v0001", "lead", "card read")
    registry.promote("v0001", "lead", "first")
    assert registry.get("production").version == "v0001"
    for name in ("\u00b9", "\u0661", "9" * 4000):  # superscript one, Arabic-Indic one: isdigit, not int
        with pytest.raises(VersionNotFound, match="name one as"):
            registry.get(name)


@pytest.mark.parametrize("blank", ["", "  \t "])
def test_approve_and_rollback_refuse_a_blank_reason_and_change_nothing(tmp_path: Path, blank: str) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(2):
        publish(registry)
    with pytest.raises(RegistryError) as refused:
        registry.approve("v0001", "lead", blank)
    assert str(refused.value) == "a reason is required to approve a version: say why (it is recorded)"
    assert [(v.stage, len(v.history)) for v in registry.versions()] == [("candidate", 1)] * 2
    for version in ("v0001", "v0002"):
        registry.approve(version, "lead", " card read ")
        registry.promote(version, "lead")  # optional here, as `models promote --reason` is
    assert registry.get("v0001").history[1]["reason"] == "card read"
    stages = {v.version: (v.stage, len(v.history)) for v in registry.versions()}
    with pytest.raises(RegistryError, match=r"^a reason is required to roll back a version"):
        registry.rollback(actor="oncall", reason=blank)
    assert {v.version: (v.stage, len(v.history)) for v in registry.versions()} == stages
    registry.rollback(actor="oncall", reason=" F1 dropped ")
    assert registry.get("v0001").history[-1]["reason"] == "F1 dropped"  # never "rollback from v0002"
    assert registry.get("v0002").history[-1]["reason"] == "rolled back to v0001: F1 dropped"


def _edit_manifest(registry: Registry, version: str, edit: Callable[[dict[str, Any]], object]) -> None:
    path = registry.root / version / MANIFEST
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def test_an_edited_manifest_is_reported_and_no_stage_change_accepts_it(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(2):
        publish(registry, f1=0.61)
    _edit_manifest(registry, "v0001", lambda m: m["metrics"]["topic"].update(macro_f1=0.91))
    changed = ["changed manifest (manifest.json no longer matches its content_sha256)"]
    assert registry.get("v0001").verify() == changed
    assert registry.get("v0001").macro_f1() == {"topic": 0.91}  # still readable: listings show it
    with pytest.raises(RegistryError, match=r"v0001 is corrupt and cannot change stage: changed manifest"):
        registry.approve("v0001", "lead", "F1 0.91")
    registry.approve("v0002", "lead", "card read")
    _edit_manifest(registry, "v0002", lambda m: m["taxonomy"].update(fingerprint="0" * 16))
    with pytest.raises(RegistryError, match=r"v0002 is corrupt and cannot change stage: changed manifest"):
        registry.promote("v0002", "lead")
    assert [v.stage for v in registry.versions()] == ["candidate", "approved"]


def test_a_manifest_rewritten_without_changing_its_content_still_verifies(tmp_path: Path) -> None:
    """Key order, indentation and escapes are not content: the digest is over canonical JSON."""
    registry = Registry(tmp_path / "models")
    publish(registry)
    path = registry.root / "v0001" / MANIFEST
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(reversed(list(data.items()))), ensure_ascii=True))
    assert registry.get("v0001").verify() == []


def test_stage_changes_keep_the_manifest_digest_valid(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    for _ in range(3):
        publish(registry)
    digests = {v.version: v.manifest["content_sha256"] for v in registry.versions()}
    for version in ("v0001", "v0002", "v0003"):
        registry.approve(version, "lead", "card read")
    registry.promote("v0001", "lead")
    registry.promote("v0002", "lead", "better")
    registry.rollback(actor="oncall", reason="F1 dropped")
    registry.rollback(to="v0003", actor="oncall", reason="hotfix")
    assert [(v.version, v.stage, v.verify()) for v in registry.versions()] == [
        ("v0001", "archived", []),
        ("v0002", "archived", []),
        ("v0003", "production", []),
    ]
    assert {v.version: v.manifest["content_sha256"] for v in registry.versions()} == digests


def test_a_version_published_before_the_manifest_digest_is_checked_on_its_files_alone(tmp_path: Path) -> None:
    """Such a version has no `content_sha256`: nothing is reported for it, and it can still change stage."""
    registry = Registry(tmp_path / "models")
    for _ in range(2):
        publish(registry)
    for version in ("v0001", "v0002"):
        _edit_manifest(registry, version, lambda m: m.pop("content_sha256"))
    assert registry.get("v0001").verify() == []
    assert registry.approve("v0001", "lead", "card read").verify() == []
    assert "content_sha256" not in registry.get("v0001").manifest  # a stage change seals nothing later
    (registry.root / "v0002" / "bodies" / "shared" / "model.bin").write_text("tampered")
    assert registry.get("v0002").verify() == ["changed file bodies/shared/model.bin"]
