"""`postroom models compare`: two versions on the same messages neither trained on, with a paired interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sqlalchemy.orm import Session, sessionmaker

from tests.training.builders import add_labeled
from tests.training.test_cli import TINY, invoke, mini_store  # noqa: F401 (fixture)
from training.compare import compare_set, compare_versions, macro_f1_counts, seen_ids
from training.dataset import LabeledMessage
from training.errors import RegistryError
from training.registry import DATASET_FILE, Registry

NEW_MESSAGES = [
    ("card_lost", "cards", "Lost my card at the station this morning, please block it right away."),
    ("card_lost", "cards", "Karte heute früh am Bahnhof verloren, bitte sofort sperren."),
    ("card_limit", "cards", "The shop declined my card, the monthly limit is apparently used up."),
    ("card_limit", "cards", "Bitte das Tageslimit meiner Karte für eine Woche anheben."),
    ("transfer_missing", "payments", "The rent I sent on the first has still not reached my landlord."),
    ("transfer_missing", "payments", "Meine Überweisung an die Stadtwerke ist nicht angekommen."),
]


def test_macro_f1_counts_is_sklearns_macro_f1_with_weights_as_repeated_rows() -> None:
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 4, 60), rng.integers(-1, 5, 60)  # -1 and 4: outside the classes
    weights = rng.integers(0, 3, (5, 60))
    got = macro_f1_counts(weights.astype(float), truth, pred, 4)
    for row, value in zip(weights, got, strict=True):
        rows = np.repeat(np.arange(60), row)
        present = sorted(set(truth[rows].tolist()))
        expected = f1_score(truth[rows], pred[rows], labels=present, average="macro", zero_division=0)
        assert value == pytest.approx(expected)


def test_compare_set_tells_a_clear_gain_from_no_difference() -> None:
    truth = ["a", "b", "c"] * 40
    good = list(truth)
    poor = [("b" if c == "a" else c) if i % 2 else c for i, c in enumerate(truth)]
    better = compare_set("topic", truth, good, poor, bootstrap=500)
    assert better.verdict == "candidate better" and better.interval[0] > 0
    assert better.only_a_right == sum(g != p for g, p in zip(good, poor, strict=True))
    assert better.only_b_right == 0
    assert better.delta_macro_f1 == pytest.approx(better.a_macro_f1 - better.b_macro_f1)
    assert better.a_macro_f1 == 1.0 and better.n == 120 and better.classes == 3
    same = compare_set("topic", truth, poor, poor, bootstrap=500)
    assert same.verdict == "no clear difference" and same.interval == (0.0, 0.0)
    worse = compare_set("topic", truth, poor, good, bootstrap=500, seed=3)
    assert worse.verdict == "candidate worse" and worse.interval[1] < 0


def _version_with_dataset(registry: Registry, train_ids: list[str], pool: list[str] | None = None) -> str:
    staging = registry.new_staging_dir()
    (staging / "heads" / "topic").mkdir(parents=True)
    (staging / "heads" / "topic" / "coef.npy").write_text("coef")
    record = {"train_message_ids": train_ids, "label_sets": {}, "unlabeled_message_ids": pool or []}
    (staging / DATASET_FILE).write_text(json.dumps(record), encoding="utf-8")
    manifest = {
        "created_at": "2026-03-01T10:00:00+00:00",
        "base_model": "minilm",
        "taxonomy": {"name": "mini", "fingerprint": "abc"},
        "variant": "shared",
        "config": {},
        "label_sets": {"topic": {"classes": ["a", "b"], "body": "shared", "head": "heads/topic"}},
        "bodies": {"shared": {"path": "bodies/shared", "max_seq_length": 8, "embedding_dim": 4}},
        "metrics": {"topic": {"macro_f1": 0.5, "accuracy": 0.5, "n_eval": 2}},
    }
    return registry.publish(staging, manifest, actor="test").version


def _never(*_: object) -> list[str]:
    raise AssertionError("no prediction is needed to refuse")


def test_compare_refuses_what_it_cannot_compare_in_one_line(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    one = registry.get(_version_with_dataset(registry, ["m1", "m2"], pool=["m5"]))
    two = registry.get(_version_with_dataset(registry, ["m3", "m4"]))
    assert seen_ids(one) == {"m1", "m2", "m5"}  # the self-training pool was seen too
    messages = [LabeledMessage(f"m{i}", f"text {i}", {"topic": "a"}) for i in (1, 2, 3, 4, 5)]
    with pytest.raises(RegistryError, match="v0001 compared with itself"):
        compare_versions(one, one, messages, _never)
    with pytest.raises(RegistryError, match=r"no labeled message is held out from both .*5 labeled"):
        compare_versions(one, two, messages, _never)
    (two.path / DATASET_FILE).unlink()
    with pytest.raises(RegistryError, match=f"v0002 is damaged: missing file {DATASET_FILE}"):
        compare_versions(one, two, messages, _never)


def test_models_compare_on_two_trained_versions(
    mini_store: None,  # noqa: F811
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    assert invoke("train", *TINY, "--seed", "3").exit_code == 0
    with sessions() as session:
        for i, (topic, queue, body) in enumerate(NEW_MESSAGES):
            add_labeled(session, f"new-{i}", topic.replace("_", " "), body, {"queue": queue, "topic": topic})
        session.commit()
    assert invoke("train", *TINY, "--seed", "4").exit_code == 0

    no_production = invoke("models", "compare", "v0002")
    assert no_production.exit_code == 1 and "no version is in production" in no_production.stderr
    itself = invoke("models", "compare", "v0002", "--with", "2")
    assert itself.exit_code == 1 and "compared with itself" in itself.stderr

    out = tmp_path / "compare.json"
    result = invoke("models", "compare", "v0002", "--with", "v0001", "--bootstrap", "300", "--json", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    registry = Registry(tmp_path / "data" / "models")
    seen = seen_ids(registry.get("v0001")) | seen_ids(registry.get("v0002"))
    labeled = 6 + 3 + 6 + len(NEW_MESSAGES)  # mini_store: card_limit has 3
    assert report["messages"] == labeled - len(seen) > 0
    assert sum(report["excluded"].values()) == len(seen)
    assert [s["label_set"] for s in report["sets"]] == ["queue", "topic"]
    for entry in report["sets"]:
        assert entry["n"] == report["messages"]
        low, high = entry["interval"]
        assert low <= high and entry["verdict"] in result.stdout
        assert entry["delta_macro_f1"] == pytest.approx(entry["a_macro_f1"] - entry["b_macro_f1"])
    assert f"on {report['messages']} labeled messages neither trained on" in result.stdout
    shown = invoke("models", "show", "v0002").stdout  # how the split was made, from the manifest
    assert "held-out split: 0.25 of each topic class held out, stable order (split seed 0);" in shown
    assert "groups kept on one side (cosine >= 0.8)" in shown
    card = (registry.get("v0002").path / "model_card.md").read_text(encoding="utf-8")
    assert "held-out messages (0.25 of each topic class held out, stable order (split seed 0);" in card
