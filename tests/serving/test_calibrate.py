"""`postroom calibrate` and `classify-heldout`: the served variant calibrates, the rest of the held-out set
measures the routing, over real HTTP, on the real store."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.errors import PostroomError
from postroom.settings import get_settings
from postroom.store.erasure import erase_messages
from postroom.store.models import Message, Prediction, ThresholdVersion
from postroom.taxonomy import Taxonomy, load_taxonomy
from router.calibration_data import load_calibration, newest_calibrated_version
from router.errors import ThresholdError
from router.suggest import suggest_from_store
from router.thresholds import set_thresholds
from serving.calibrate import calibrate
from serving.demo import classify_heldout, routing_outcome
from serving.heldout import (
    calibrated_ids,
    calibration_split,
    copies_of,
    near_copy_groups,
    one_per_group,
)
from tests.serving.builders import MESSAGES, Exported
from tests.serving.conftest import MakeClient, auth
from training.registry import DATASET_FILE

runner = CliRunner()
register_components()


def test_split_is_stratified_deterministic_and_keeps_singletons_out() -> None:
    ids = [f"m{i}" for i in range(10)] + ["lonely"]
    strata = {**{f"m{i}": "a" if i < 6 else "b" for i in range(10)}, "lonely": "c"}
    calibration, rest = calibration_split(ids, strata, 0.5)
    again, _ = calibration_split(list(reversed(ids)), strata, 0.5)
    assert set(calibration) == set(again)
    assert Counter(strata[i] for i in calibration) == {"a": 3, "b": 2}
    assert "lonely" in rest and set(calibration).isdisjoint(rest) and set(calibration) | set(rest) == set(ids)
    assert calibration == [i for i in ids if i in set(calibration)]  # input order kept


def test_split_keeps_a_near_copy_group_on_one_side() -> None:
    ids = [f"m{i:02d}" for i in range(40)]
    strata = {i: "a" for i in ids}
    plain, _ = calibration_split(ids, strata, 0.5)
    # a pair the plain split puts on both sides, and a triple of another stratum's majority
    pair = (next(i for i in ids if i in plain), next(i for i in ids if i not in plain))
    triple = ["m30", "m31", "m32"]
    strata.update({"m30": "b", "m31": "b"})
    calibration, rest = calibration_split(ids, strata, 0.5, [list(pair), triple, ["gone", "m33"]])
    for group in (pair, triple):
        assert len({i in calibration for i in group}) == 1, group
    assert not set(triple) & set(calibration)  # its majority is b, and a stratum of one unit calibrates none
    assert len(calibration) == 19 and set(calibration) | set(rest) == set(ids)  # round(0.5 * 37) in a
    assert calibration_split(ids, strata, 0.5, [list(pair), triple]) == (calibration, rest)
    plain_rest = [i for i in ids if i not in plain]
    assert calibration_split(ids, {i: "a" for i in ids}, 0.5, []) == (plain, plain_rest)


def test_split_merges_groups_that_share_a_message_and_prefers_a_labeled_stratum() -> None:
    ids = [f"m{i:02d}" for i in range(20)]
    strata = {i: "a" for i in ids} | {"m01": ""}
    chained = [["m00", "m01"], ["m01", "m02"]]  # m00-m01-m02 is one unit, in either order
    for groups in (chained, chained[::-1]):
        calibration, _ = calibration_split(ids, strata, 0.5, groups)
        assert len({i in calibration for i in ("m00", "m01", "m02")}) == 1
    # a pair of a labeled and an unlabeled member is the labeled one's: stratum "a" has more than one unit
    calibration, _ = calibration_split(["x", "y", "z", "w"], {"x": "a", "y": "", "z": "a", "w": "a"}, 0.9,
                                       [["x", "y"]])
    assert set(calibration) == {"x", "y", "z", "w"}  # in "", the pair alone would calibrate none
    assert one_per_group(["m00", "m01", "m02"], [["m00", "m01"], ["m01", "m02"]]) == ["m00"]
    assert copies_of({"m02"}, [["m00", "m01"], ["m01", "m02"]]) == {"m00", "m01"}


def test_one_message_per_group_and_the_copies_of_chosen_ones() -> None:
    groups = [["b", "a", "c"], ["x", "y"], ["q"]]
    assert one_per_group(["c", "b", "x", "z"], groups) == ["b", "x", "z"]  # "a" is not among them
    assert one_per_group(["y"], groups) == ["y"] and one_per_group([], groups) == []
    assert copies_of({"b", "z"}, groups) == {"a", "c"}
    assert copies_of({"x", "y"}, groups) == set() and copies_of(set(), groups) == set()


def test_near_copy_groups_come_from_the_versions_dataset_record(tmp_path: Path) -> None:
    assert near_copy_groups(tmp_path) is None  # no dataset.json
    (tmp_path / DATASET_FILE).write_text(json.dumps({"eval_message_ids": ["a"]}), encoding="utf-8")
    assert near_copy_groups(tmp_path) is None  # trained before groups were recorded
    (tmp_path / DATASET_FILE).write_text(json.dumps({"split": {"eval_near_copies": []}}), encoding="utf-8")
    assert near_copy_groups(tmp_path) == []  # recorded: none held out
    split = {"eval_near_copies": [["a", "b"], ["c"], "junk"]}
    (tmp_path / DATASET_FILE).write_text(json.dumps({"split": split}), encoding="utf-8")
    assert near_copy_groups(tmp_path) == [["a", "b"]]


def test_a_near_copy_group_calibrates_once_and_is_not_counted_as_unseen(
    serving_env: dict[str, str],
    stored: list[str],
    sessions: sessionmaker[Session],
    shared: Exported,
    taxonomy: Taxonomy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The groups training recorded reach calibration: a pair the plain split would part goes to one side,
    only its first member calibrates (one trial for the thresholds' tests), and `classify-heldout` leaves
    the other out too (a near-copy of a calibration message is not unseen)."""
    record_path = shared.registry_dir / shared.version / DATASET_FILE
    before = record_path.read_text(encoding="utf-8")
    plain_run = _calibrate()
    with sessions() as session:
        plain = calibrated_ids(session, shared.version)
        session.query(Prediction).delete()
        session.commit()
    first, copy = next(i for i in stored if i in plain), next(i for i in reversed(stored) if i not in plain)
    assert first < copy
    record = json.loads(before)
    record["split"] = {"eval_near_copies": [[first, copy]]}
    try:
        record_path.write_text(json.dumps(record), encoding="utf-8")
        run = _calibrate()
        monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path))
        report = classify_heldout(get_settings(), taxonomy, "production", None, None, None, lambda _m: None)
    finally:
        record_path.write_text(before, encoding="utf-8")
    with sessions() as session:
        calibrated = calibrated_ids(session, shared.version)
        served = set(
            session.scalars(
                select(Message.message_id)
                .join(Prediction, Prediction.message_pk == Message.id)
                .where(Prediction.purpose == "serve")
            )
        )
    assert first in calibrated and copy not in calibrated and run.copies_left_out == 1
    assert run.stored == len(calibrated) and plain_run.stored > 0
    assert copy not in served and report["left_out_as_copies"] == 1
    assert report["classified"] == len(MESSAGES) - run.stored - 1


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_split_rejects_a_fraction_outside_0_1(fraction: float) -> None:
    with pytest.raises(PostroomError, match="fraction must be in"):
        calibration_split(["a", "b"], {}, fraction)


def test_routing_outcome_checks_replies_and_queues_against_labels(taxonomy: Taxonomy) -> None:
    def result(decision: str, queue: str, topic: str) -> dict:
        predictions = {"topic": {"class": topic}}
        return {"decision": {"decision": decision, "queue": queue}, "predictions": predictions}

    results = {
        "a": result("auto_reply", "cards", "card_replacement"),
        "b": result("auto_reply", "cards", "card_replacement"),
        "c": result("human", "payments", "transfer_status"),
        "d": result("human", "triage", "transfer_status"),
    }
    truth = {
        "a": {"topic": "card_replacement", "queue": "cards"},
        "b": {"topic": "card_payment_declined", "queue": "cards"},
        "c": {"topic": "transfer_status", "queue": "payments"},
        "d": {"topic": "transfer_status", "queue": "payments"},
    }
    outcome = routing_outcome(taxonomy, results, truth)
    assert outcome["auto_reply"] == 2 and outcome["auto_reply_correct"] == 1
    assert outcome["auto_reply_precision"] == 0.5
    assert outcome["human"] == {
        "payments": {"messages": 1, "right_queue": 1},
        "triage": {"messages": 1, "right_queue": 0},
    }
    assert routing_outcome(taxonomy, {}, {})["auto_reply_precision"] is None


def _calibrate(fraction: float = 0.5):  # type: ignore[no-untyped-def]
    settings = get_settings()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    return calibrate(settings, taxonomy, "production", fraction)


def test_calibrate_stores_the_served_variants_predictions(
    serving_env: dict[str, str],
    stored: list[str],
    sessions: sessionmaker[Session],
    shared: Exported,
    taxonomy: Taxonomy,
) -> None:
    run = _calibrate()
    assert run.version == shared.version and run.held_out == len(MESSAGES) and run.skipped_unlabeled == 0
    assert 0 < run.stored < len(MESSAGES)
    with sessions() as session:
        rows = session.scalars(select(Prediction).where(Prediction.purpose == "calibration")).all()
        assert len(rows) == run.stored
        assert {r.variant for r in rows} == {f"onnx-{run.variant}"}
        assert {r.model_version for r in rows} == {shared.version}
        assert newest_calibrated_version(session) == shared.version
        calibration = load_calibration(session, taxonomy, shared.version)
        assert len(calibration["topic"].predicted) == run.stored
        correct, n = run.correct["topic"]
        assert n == run.stored
        assert correct == sum(
            p == t for p, t in zip(calibration["topic"].predicted, calibration["topic"].truth, strict=True)
        )
        suggestion = suggest_from_store(session, taxonomy, shared.version, 0.95, 0.9, "pooled")
        assert suggestion.report["topic"]["calibration_size"] > 0
        assert len(calibrated_ids(session, shared.version)) == run.stored


def test_calibration_scores_are_the_ones_a_lone_request_gets(
    make_client: MakeClient, serving_env: dict[str, str], stored: list[str], sessions: sessionmaker[Session]
) -> None:
    """Thresholds certify the scores production computes: `/v1/classify` of one message gets exactly the
    probabilities calibration stored for it (int8's scores depend on the other rows of a run)."""
    _calibrate(0.9)
    with sessions() as session:
        rows = session.execute(
            select(Message.message_id, Prediction.results)
            .join(Message, Message.id == Prediction.message_pk)
            .where(Prediction.purpose == "calibration")
        ).all()
    assert len(rows) >= 4
    client, key = make_client(serve_variant="int8"), auth(serving_env["router"])
    for message_id, results in rows:
        answer = client.post("/v1/classify", json={"message_id": message_id}, headers=key)
        served = answer.json()["predictions"]
        for name, record in results.items():
            assert served[name]["probability"] == record["probability"], (message_id, name)


def test_calibrate_without_labeled_held_out_messages_says_so(serving_env: dict[str, str]) -> None:
    with pytest.raises(PostroomError, match=f"none of the {len(MESSAGES)} held-out messages"):
        _calibrate()


def test_calibrate_cli_reports_and_bad_fraction_is_one_line(
    serving_env: dict[str, str], stored: list[str], sessions: sessionmaker[Session]
) -> None:
    unknown = runner.invoke(app, ["calibrate", "--model", "v9999"])
    assert unknown.exit_code == 1 and "v9999" in unknown.output and "Traceback" not in unknown.output
    bad = runner.invoke(app, ["calibrate", "--fraction", "1.5"])
    assert bad.exit_code == 1 and "fraction must be in (0, 1)" in bad.output
    assert "Traceback" not in bad.output
    good = runner.invoke(app, ["calibrate", "--fraction", "0.5"])
    assert good.exit_code == 0, good.output
    assert "calibration predictions of v0001" in good.stdout and "postroom thresholds suggest" in good.stdout


def test_suggest_defaults_to_the_newest_calibrated_version(
    serving_env: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, pytest.raises(ThresholdError, match="run `postroom calibrate"):
        newest_calibrated_version(session)
    missing = runner.invoke(app, ["thresholds", "suggest"])
    assert missing.exit_code == 1 and "postroom calibrate" in missing.output


def test_classify_heldout_leaves_calibration_out_and_routes_over_http(
    serving_env: dict[str, str],
    stored: list[str],
    sessions: sessionmaker[Session],
    shared: Exported,
    taxonomy: Taxonomy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _calibrate()
    with sessions() as session:
        # Every card_replacement prediction is answered automatically: the outcome must count and check them.
        set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.0}}, "test", "demo thresholds")
        session.commit()
        assert session.scalars(select(ThresholdVersion)).first() is not None
        calibrated = set(
            session.scalars(select(Message.message_id).join(Prediction, Prediction.message_pk == Message.id))
        )
        erased = next(i for i in stored if i not in calibrated)  # a client's erasure request since training
        erase_messages(session, [erased], "test", "erasure request", {}, record_ids=True)
        session.commit()
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path))
    report = classify_heldout(get_settings(), taxonomy, "production", None, None, None, log=lambda _m: None)
    assert report["errors"] == 0 and report["left_out_for_calibration"] == run.stored
    assert report["not_in_store"] == 1  # not sent: it would be a 404
    assert report["classified"] == len(MESSAGES) - run.stored - 1
    routing = report["routing"]
    with sessions() as session:
        served = session.scalars(select(Prediction).where(Prediction.purpose == "serve")).all()
        assert len(served) == report["classified"]
        predicted_replacements = sum(p.results["topic"]["class"] == "card_replacement" for p in served)
    assert routing["auto_reply"] == predicted_replacements
    human = sum(entry["messages"] for entry in routing["human"].values())
    assert routing["auto_reply"] + human == report["classified"]


def test_calibration_keeps_the_signals_and_learned_thresholds_route_by_the_learned_confidence(
    serving_env: dict[str, str],
    stored: list[str],
    sessions: sessionmaker[Session],
    shared: Exported,
    taxonomy: Taxonomy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The export carries evidence for topic: calibration predictions store its raw signals (none for the
    other sets), and with a learned confidence model active, every reply decision compares that score."""
    import numpy as np

    from postroom.store.models import RoutingDecision
    from router.confidence import FEATURES, ConfidenceModel

    run = _calibrate()
    with sessions() as session:
        calibration = load_calibration(session, taxonomy, "v0001")
    signals = calibration["topic"].signals
    assert signals is not None and signals.shape == (run.stored, len(FEATURES) - 1)
    assert np.allclose(signals[:, 0], calibration["topic"].scores, atol=1e-5)  # column 0: the probability
    assert calibration["queue"].signals is None  # no evidence exported for queue

    names = taxonomy.label_set("topic").class_names
    templated = [c.name for c in taxonomy.label_set("topic").classes if c.auto_reply]
    k = len(FEATURES)
    # A model that reads only the class record: tax_certificate scores 0.95, every other class 0.5.
    prior = np.array([0.95 if n == "tax_certificate" else 0.5 for n in names])
    weights = np.zeros(k)
    weights[-1] = 1.0
    model = ConfidenceModel(weights, 0.0, np.zeros(k), np.ones(k), prior)
    with sessions() as session:
        set_thresholds(
            session,
            taxonomy,
            {"topic": dict.fromkeys(templated, 0.9)},
            "test",
            "learned thresholds",
            details={
                "guarantee": "learned",
                "confidence_model": {"label_set": "topic", **model.to_dict(names)},
            },
        )
        session.commit()
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path))
    report = classify_heldout(get_settings(), taxonomy, "production", None, None, None, log=lambda _m: None)
    assert report["errors"] == 0
    with sessions() as session:
        served = {p.id: p.results["topic"]["class"] for p in session.scalars(select(Prediction))}
        decisions = session.scalars(select(RoutingDecision)).all()
        checked = set()
        for decision in decisions:
            topic = served[decision.prediction_pk]
            reasons = " ".join(decision.reasons["reasons"])
            if topic == "tax_certificate":
                assert (
                    "learned confidence 0.950 >= threshold 0.900" in reasons or decision.decision == "human"
                )
                checked.add("above")
            elif topic in templated:
                assert "learned confidence 0.500 is below its threshold 0.900" in reasons
                assert decision.decision == "human"
                checked.add("below")
    assert checked == {"above", "below"}  # the held-out messages exercise both sides
    assert report["routing"]["auto_reply"] >= 1
    # The lead's page draws the reply classes' curves on the learned confidence too.
    from serving.lead.service import lead_overview

    with sessions() as session:
        overview = lead_overview(session, taxonomy, get_settings(), None, None).data
    reply = next(s for s in overview["label_sets"] if s["role"] == "reply")
    queue = next(s for s in overview["label_sets"] if s["role"] == "queue")
    assert reply["score"] == "learned confidence" and queue["score"] == "probability"
    assert "learned confidence of thresholds version" in overview["curve_source"]
    drawn = [c for c in reply["classes"] if c["curve"]]
    assert drawn  # every point sits at the class's learned score (0.95 for tax_certificate, else 0.5)
    for c in drawn:
        expected = 0.95 if c["name"] == "tax_certificate" else 0.5
        assert all(abs(p["threshold"] - expected) < 1e-6 for p in c["curve"])


def test_replies_wait_while_the_thresholds_were_calibrated_for_another_model(
    make_client: MakeClient,
    serving_env: dict[str, str],
    stored: list[str],
    sessions: sessionmaker[Session],
    shared: Exported,
    taxonomy: Taxonomy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A threshold certifies a precision for one model's scores: after a promotion, the predecessor's
    thresholds route to people until the served model is calibrated; the lead's page says so."""
    from postroom.store.models import RoutingDecision
    from serving.lead.service import lead_overview

    answer_all = {"topic": {"card_replacement": 0.0}}  # every card_replacement prediction would be answered
    with sessions() as session:
        set_thresholds(session, taxonomy, answer_all, "test", "for the old model", model_version="v0000")
        session.commit()
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path))
    paused = classify_heldout(get_settings(), taxonomy, "production", None, None, None, log=lambda _m: None)
    expected = (
        "automated replies paused: thresholds version 1 were calibrated for model v0000, the service runs "
        "v0001"
    )
    resume = (
        "apply thresholds calibrated for v0001: postroom calibrate --model v0001, then postroom thresholds "
        "suggest --model-version v0001 --apply"
    )
    with sessions() as session:
        decisions = session.scalars(select(RoutingDecision)).all()
        served = {p.id: p.results["topic"]["class"] for p in session.scalars(select(Prediction))}
        overview = lead_overview(session, taxonomy, get_settings(), None, "v0001").data
    replacements = sum(served[d.prediction_pk] == "card_replacement" for d in decisions)
    assert replacements >= 1 and paused["routing"]["auto_reply"] == 0
    assert all(d.reasons["reasons"][0] == expected for d in decisions)  # what the router client reads
    assert overview["replies_paused"] == expected and overview["replies_resume"].startswith(resume)
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    logging.getLogger("postroom.serving").addHandler(handler)  # "postroom" does not propagate (app)
    try:
        client = make_client(serve_gauges_seconds=0.2)  # the gauge a dashboard alerts on: set at start
        assert "postroom_auto_replies_paused 1.0" in client.get("/metrics").text
        with sessions() as session:  # another version for the old model (a suspension, a hand change)
            stricter = {"topic": {"account_statement": 0.97}}
            set_thresholds(session, taxonomy, stricter, "test", "stricter", model_version="v0000")
            session.commit()
        for _ in range(2):  # the same wait: not logged again
            answer = client.post(
                "/v1/classify", json={"message_id": stored[0]}, headers=auth(serving_env["router"])
            )
            assert answer.json()["decision"]["reasons"][0] == expected.replace("version 1", "version 2")
        with sessions() as session:  # applied from elsewhere (the CLI): the background refresh sees it
            applied = {"topic": {"card_replacement": 0.02}}
            set_thresholds(session, taxonomy, applied, "test", "for v0001", model_version="v0001")
            session.commit()
        deadline = time.monotonic() + 20
        while "postroom_auto_replies_paused 0.0" not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "the gauge was not refreshed in the background"
            time.sleep(0.1)
    finally:
        logging.getLogger("postroom.serving").removeHandler(handler)
    messages = [(r.levelno, r.getMessage()) for r in logged if "automated replies" in r.getMessage()]
    assert messages == [  # once when the wait began (with what ends it), once when it ended
        (logging.WARNING, f"{expected}: {overview['replies_resume']}"),
        (logging.INFO, "automated replies resumed: thresholds version 3 fit v0001"),
    ]


    with sessions() as session:  # calibrated for the served model: the thresholds answer again
        assert lead_overview(session, taxonomy, get_settings(), None, "v0001").data["replies_paused"] is None
    again = classify_heldout(get_settings(), taxonomy, "production", None, None, None, log=lambda _m: None)
    assert again["routing"]["auto_reply"] >= 1
