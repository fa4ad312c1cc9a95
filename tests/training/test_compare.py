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
from tests.training.test_registry import _manifest
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
    ids = [f"m{i}" for i in range(len(truth))]
    better = compare_set("topic", truth, good, poor, bootstrap=500, message_ids=ids)
    assert better.verdict == "candidate better" and better.interval[0] > 0
    assert better.only_candidate_right == sum(g != p for g, p in zip(good, poor, strict=True)) == 20
    assert better.only_reference_right == 0
    assert better.delta_macro_f1 == pytest.approx(better.candidate_macro_f1 - better.reference_macro_f1)
    assert better.candidate_macro_f1 == 1.0 and better.n == 120 and better.classes == 3
    assert better.disagreements[0] == {"message_id": "m3", "label": "a", "candidate": "a", "reference": "b"}
    assert len(better.disagreements) == 20
    (a_class,) = [c for c in better.largest_changes() if c.name == "a"]
    assert (a_class.support, a_class.candidate_f1) == (40, 1.0) and a_class.reference_f1 < 1.0
    assert better.largest_changes()[0].name == "a"  # a lost half its recall in the reference
    same = compare_set("topic", truth, poor, poor, bootstrap=500)
    assert same.verdict == "no clear difference" and same.interval == (0.0, 0.0)
    worse = compare_set("topic", truth, poor, good, bootstrap=500, seed=3)
    assert worse.verdict == "candidate worse" and worse.interval[1] < 0


def _version_with_dataset(
    registry: Registry, train_ids: list[str], pool: list[str] | None = None, pseudo: list[str] | None = None
) -> str:
    staging = registry.new_staging_dir()
    (staging / "heads" / "topic").mkdir(parents=True)
    (staging / "heads" / "topic" / "coef.npy").write_text("coef")
    record: dict[str, object] = {"train_message_ids": train_ids, "label_sets": {}}
    record["unlabeled_message_ids"] = pool or []
    if pseudo is not None:  # versions since pseudo-labels are recorded; older ones: the pool alone
        record["pseudo_labeled_message_ids"] = pseudo
    (staging / DATASET_FILE).write_text(json.dumps(record), encoding="utf-8")
    return registry.publish(staging, _manifest(0.5), actor="test").version


def _never(*_: object) -> list[str]:
    raise AssertionError("no prediction is needed to refuse")


def test_compare_refuses_what_it_cannot_compare_in_one_line(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    one = registry.get(_version_with_dataset(registry, ["m1", "m2"], pool=["m5"]))
    two = registry.get(_version_with_dataset(registry, ["m3", "m4"]))
    assert seen_ids(one).trained == {"m1", "m2"}
    assert seen_ids(one).pseudo_labeled == {"m5"} and seen_ids(one).pool_only  # older record: the pool
    messages = [LabeledMessage(f"m{i}", f"text {i}", {"topic": "a"}) for i in (1, 2, 3, 4, 5)]
    with pytest.raises(RegistryError, match="v0001 compared with itself"):
        compare_versions(one, one, messages, _never)
    with pytest.raises(RegistryError, match=r"no labeled message is held out from both .*5 labeled: trained"):
        compare_versions(one, two, messages, _never)
    (two.path / DATASET_FILE).unlink()
    with pytest.raises(RegistryError, match=f"v0002 is damaged: missing file {DATASET_FILE}"):
        compare_versions(one, two, messages, _never)


def _predict_labels(version: object, label_set: str, texts: list[str]) -> list[str]:
    return ["a" if "card" in text else "b" for text in texts]


def test_only_messages_neither_version_learned_from_are_compared(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    pool = ["p1", "p2", "p3"]
    one = registry.get(_version_with_dataset(registry, ["t1"], pool=pool, pseudo=["p1"]))
    two = registry.get(_version_with_dataset(registry, ["t2"], pool=pool, pseudo=[]))
    lost = "I lost my debit card in the train yesterday evening, please block it at once."
    messages = [
        LabeledMessage("t1", lost, {"topic": "a"}),  # trained on by the candidate
        LabeledMessage("t2", "Where is my transfer to the landlord from Monday?", {"topic": "b"}),
        LabeledMessage("p1", "The card machine ate my card.", {"topic": "a"}),  # pseudo-labeled then
        LabeledMessage("p2", "My card is blocked since the update.", {"topic": "a"}),  # in the pool only
        LabeledMessage("c1", "Re: " + lost, {"topic": "a"}),  # a near-copy of t1
        LabeledMessage("c2", "Please raise my card limit for the holidays.", {"topic": "a"}),
        LabeledMessage("c3", "The standing order to my son did not go out.", {"topic": "b"}),
    ]
    result = compare_versions(one, two, messages, _predict_labels, bootstrap=200)
    assert result.messages == 3  # p2, c2, c3
    assert result.excluded == {
        "trained_on_by_both": 0,
        "trained_on_by_candidate_only": 1,
        "trained_on_by_reference_only": 1,
        "pseudo_labeled_in_self_training": 1,
        "near_copy_of_a_training_message": 1,
    }
    (topic,) = result.sets
    assert topic.n == 3 and topic.candidate_accuracy == topic.reference_accuracy == 1.0
    assert topic.verdict == "no clear difference" and topic.interval == (0.0, 0.0)
    no_near_copies = compare_versions(one, two, messages, _predict_labels, 200, near_copy_cosine=None)
    assert no_near_copies.messages == 4


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
    for bad, why in ((tmp_path, "is a directory"), (tmp_path / "no" / "x.json", "does not exist")):
        refused = invoke("models", "compare", "v0002", "--with", "v0001", "--json", str(bad))
        assert refused.exit_code == 1 and why in refused.stderr and "Traceback" not in refused.output
    assert invoke("models", "compare", "v0002", "--with", "v0001", "--bootstrap", "10000000").exit_code == 2

    out = tmp_path / "compare.json"
    result = invoke("models", "compare", "v0002", "--with", "v0001", "--bootstrap", "300", "--json", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    registry = Registry(tmp_path / "data" / "models")
    one, two = seen_ids(registry.get("v0001")), seen_ids(registry.get("v0002"))
    assert not one.pool_only and not one.pseudo_labeled  # every labeled: no pool to pseudo-label
    labeled = 6 + 3 + 6 + len(NEW_MESSAGES)  # mini_store: card_limit has 3
    trained = one.trained | two.trained
    near_copies = report["excluded"]["near_copy_of_a_training_message"]
    assert report["messages"] == labeled - len(trained) - near_copies > 0
    assert sum(report["excluded"].values()) == labeled - report["messages"]
    assert [s["label_set"] for s in report["sets"]] == ["queue", "topic"]
    for entry in report["sets"]:
        assert entry["n"] == report["messages"]
        low, high = entry["interval"]
        assert low <= high and entry["verdict"] in result.stdout
        delta = entry["candidate_macro_f1"] - entry["reference_macro_f1"]
        assert entry["delta_macro_f1"] == pytest.approx(delta)
        assert sum(c["support"] for c in entry["per_class"]) == entry["n"]
        assert f"{entry['label_set']}: F1 moved most (reference -> candidate):" in result.stdout
    assert f"[candidate] on {report['messages']} labeled messages neither learned from" in result.stdout
    shown = invoke("models", "show", "v0002").stdout  # how the split was made, from the manifest
    assert "held-out split: 0.25 of each topic class held out, stable order (split seed 0);" in shown
    assert "groups kept on one side (cosine >= 0.8)" in shown
    card = (registry.get("v0002").path / "model_card.md").read_text(encoding="utf-8")
    assert "held-out messages (0.25 of each topic class held out, stable order (split seed 0);" in card
