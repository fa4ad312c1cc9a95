"""`postroom thresholds …` on a real store: set, show, history, rollback, suggest --apply, monitor."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.store import Prediction
from tests.router.damaged import DAMAGES, damage_version, stored_json
from tests.serving.lead_data import seed_calibration

runner = CliRunner()
register_components()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["thresholds", *args])


def test_set_show_history_rollback(sessions: sessionmaker[Session]) -> None:
    first = invoke(
        "set",
        "--set",
        "topic.card_replacement=0.9",
        "--set",
        "queue.cards=0.4",
        "--reason",
        "first calibration",
        "--actor",
        "lena",
    )
    assert first.exit_code == 0, first.output
    assert (
        "topic.card_replacement: off -> 0.900" in first.stdout
        and "thresholds version 1 is active" in first.stdout
    )
    assert (
        invoke(
            "set", "--off", "topic.card_replacement", "--reason", "complaints", "--actor", "omar"
        ).exit_code
        == 0
    )
    show = invoke("show")
    assert "active thresholds version: 2" in show.stdout and "card_replacement" in show.stdout
    history = invoke("history")
    assert history.stdout.index("v2") < history.stdout.index("v1")
    assert "by omar: complaints" in history.stdout
    assert "topic.card_replacement: 0.900 -> off" in history.stdout
    back = invoke("rollback", "1", "--reason", "complaints were about fees", "--actor", "lena")
    assert back.exit_code == 0 and "version 3 is active (values of version 1)" in back.stdout
    tiny = invoke("set", "--set", "queue.payments=1e-320", "--reason", "almost no triage", "--actor", "lena")
    assert tiny.exit_code == 0, tiny.output
    payments = next(line for line in invoke("show").stdout.splitlines() if "payments" in line)
    assert "< 0.001" in payments and "0.000" not in payments  # not to be read as 0: every prediction trusted


def test_bad_input_is_one_line_and_stores_nothing(sessions: sessionmaker[Session]) -> None:
    for args, message in [
        (["set", "--set", "topic=0.9", "--reason", "x"], "--set takes SET.CLASS=VALUE"),
        (["set", "--set", "topic.card_replacement=high", "--reason", "x"], "is not a number"),
        (["set", "--set", "topic.card_replacement=2", "--reason", "x"], "must be in [0, 1]"),
        (["set", "--set", "topic.card_replacement=1e-400", "--reason", "x"], "'1e-400' is too small for"),
        (["set", "--set", "topic.card_replacement=inf", "--reason", "x"], "'inf' is not a finite number"),
        (["set", "--set", "topic.fee_complaint=0.9", "--reason", "x"], "topic.fee_complaint has no effect"),
        (["set", "--set", "line_of_business.retail=0.5", "--reason", "x"], "line_of_business.retail has no"),
        (["set", "--reason", "x"], "nothing to change"),
        (["rollback", "9", "--reason", "x"], "no threshold version 9"),
        (["suggest", "--model-version", "v9"], "no calibration predictions for model version 'v9'"),
        (
            [
                "set",
                "--set",
                "topic.card_replacement=0.9",
                "--off",
                "topic.card_replacement",
                "--reason",
                "x",
            ],
            "topic.card_replacement is given more than once",
        ),
        (["rollback", "99999999999999999999", "--reason", "x"], "no threshold version 99999999999999999999"),
        (["suggest", "--target-precision", "1.5"], "--target-precision must be between 0 and 1"),
        (["suggest", "--confidence", "0"], "--confidence must be between 0 and 1 (exclusive), got 0.0"),
        (["suggest", "--queue-precision", "2"], "--queue-precision must be between 0 and 1"),
        (
            ["set", "--set", "topic.card_replacement=0.9", "--reason", "x", "--actor", " "],
            "--actor is empty: name who acts, or leave it out to record your user name",
        ),
        (
            ["set", "--set", "topic.card_replacement=0.9", "--reason", "x", "--actor", "a" * 300],
            "--actor is longer than 128 characters",
        ),
        (
            ["set", "--set", "topic.card_replacement=0", "--reason", "turn off"],
            "topic.card_replacement=0 would answer every message predicted as that class automatically",
        ),
    ]:
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output
    assert "none (defaults)" in invoke("show").stdout
    assert "no threshold versions yet" in invoke("history").stdout
    for limit in ("0", "99999999999999999999"):  # SQL's LIMIT cannot take them: a usage error, no traceback
        result = invoke("history", "--limit", limit)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output


# English text: a message without a language gets no automated reply, so calibration would not count it
ENGLISH = "Please send me my statement {}."


def _calibrate_v1(sessions: sessionmaker[Session]) -> None:
    """400 calibration predictions of model v1: account_statement right and sure (certifiable), the
    fee complaints predicted as it with low scores; card_replacement never predicted (not certifiable)."""
    rng = np.random.default_rng(0)
    with sessions() as session:
        for i in range(400):
            truth = "account_statement" if i < 300 else "fee_complaint"
            result = ingest_one(
                session, IncomingMessage(f"c{i}", ENGLISH.format(i), "text", "t", labels={"topic": truth})
            )
            session.flush()
            score = (
                float(rng.uniform(0.9, 1.0)) if truth == "account_statement" else float(rng.uniform(0.2, 0.6))
            )
            session.add(
                Prediction(
                    message_pk=result.message.id,
                    model_version="v1",
                    variant="onnx-int8",
                    purpose="calibration",
                    results={"topic": {"class": "account_statement", "probability": score}},
                )
            )
        session.commit()


def test_suggest_applies_certified_thresholds(sessions: sessionmaker[Session]) -> None:
    _calibrate_v1(sessions)
    result = invoke("suggest", "--model-version", "v1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["topic"]
    statement = report["classes"]["account_statement"]
    assert 0.4 <= statement["threshold"] <= 0.9 and statement["expected_precision"] >= 0.95
    assert report["expected_auto_share"] >= 0.75  # 300 of 400 are right and confidently so
    assert report["classes"]["card_replacement"]["threshold"] is None
    assert report["classes"]["card_replacement"]["examples_needed"] > 0
    applied = invoke("suggest", "--model-version", "v1", "--apply", "--actor", "lena")
    assert applied.exit_code == 0 and "thresholds version 1 is active" in applied.stdout
    assert f"expected: {report['expected_auto_share']:.1%} of messages automated" in applied.stdout
    again = invoke("suggest", "--apply", "--actor", "lena")  # the newest calibrated version: v1
    assert again.exit_code == 0, again.output
    assert "equals the active thresholds (version 1): nothing stored" in again.stdout
    assert "thresholds version 2" not in again.stdout and "v2" not in invoke("history").stdout
    with sessions() as session:  # the same values for the model after it are stored: it may answer too
        session.add_all(
            Prediction(
                message_pk=p.message_pk,
                model_version="v2",
                variant=p.variant,
                purpose=p.purpose,
                results=p.results,
            )
            for p in session.scalars(select(Prediction).where(Prediction.model_version == "v1")).all()
        )
        session.commit()
    successor = invoke("suggest", "--model-version", "v2", "--apply", "--actor", "lena")
    assert successor.exit_code == 0 and "thresholds version 2 is active" in successor.stdout
    assert "calibrated for model v2" in invoke("show").stdout


def test_suggest_pooled_guarantee_and_bad_choice(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(1)
    with sessions() as session:
        for i in range(400):
            truth = "tax_certificate" if i % 4 else "fee_complaint"
            result = ingest_one(
                session, IncomingMessage(f"p{i}", ENGLISH.format(i), "text", "t", labels={"topic": truth})
            )
            session.flush()
            score = (
                float(rng.uniform(0.85, 1.0)) if truth == "tax_certificate" else float(rng.uniform(0.3, 0.6))
            )
            session.add(
                Prediction(
                    message_pk=result.message.id,
                    model_version="v2",
                    variant="onnx-int8",
                    purpose="calibration",
                    results={"topic": {"class": "tax_certificate", "probability": score}},
                )
            )
        session.commit()
    result = invoke("suggest", "--model-version", "v2", "--guarantee", "pooled", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["topic"]
    assert report["guarantee"] == "pooled" and report["expected_precision"] >= 0.95
    assert report["classes"]["tax_certificate"]["threshold"] is not None
    assert report["classes"]["fee_complaint"]["reason"] == "no template"
    bad = invoke("suggest", "--model-version", "v2", "--guarantee", "somehow")
    assert bad.exit_code == 1 and "--guarantee must be one of per-class, pooled, learned" in bad.stderr


def _signals(rng: np.random.Generator, right: bool) -> list[float]:
    """Raw signals (router.confidence.FEATURES but the class record) where only the similarity to the
    class's labeled examples tells right from wrong; the probability is flat noise."""
    p = float(rng.uniform(0.5, 0.9))
    own = float(rng.uniform(0.7, 0.95) if right else rng.uniform(0.3, 0.75))
    other = float(rng.uniform(0.3, 0.6))
    centroid = own - 0.05
    return [p, 1.0, p, 1.0, own, other, own - other, centroid, centroid - other]


def test_suggest_learned_certifies_on_the_signals_and_rollback_restores_the_score(
    sessions: sessionmaker[Session],
) -> None:
    from router.thresholds import active_confidence_model

    rng = np.random.default_rng(2)
    with sessions() as session:
        for i in range(1200):
            right = i % 4 != 0
            truth = "tax_certificate" if right else "fee_complaint"
            result = ingest_one(
                session, IncomingMessage(f"l{i}", ENGLISH.format(i), "text", "t", labels={"topic": truth})
            )
            session.flush()
            signals = _signals(rng, right)
            results = {"topic": {"class": "tax_certificate", "probability": signals[0], "signals": signals}}
            session.add(
                Prediction(
                    message_pk=result.message.id,
                    model_version="v3",
                    variant="onnx-int8",
                    purpose="calibration",
                    results=results,
                )
            )
            without = {"topic": {"class": "tax_certificate", "probability": signals[0]}}
            session.add(
                Prediction(
                    message_pk=result.message.id,
                    model_version="v4",
                    variant="onnx-int8",
                    purpose="calibration",
                    results=without,
                )
            )
        session.commit()
    assert (
        invoke("set", "--set", "topic.tax_certificate=0.99", "--reason", "start", "--actor", "lena").exit_code
        == 0
    )

    result = invoke("suggest", "--model-version", "v3", "--guarantee", "learned", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["topic"]
    assert report["guarantee"] == "learned" and report["fit_size"] == 300  # a quarter of 1,200
    assert report["expected_precision"] >= 0.95 and report["expected_auto_share"] > 0.4
    assert report["classes"]["tax_certificate"]["threshold"] == report["threshold"]
    assert report["classes"]["fee_complaint"]["threshold"] is None  # no template
    assert report["confidence_model"]["features"][-1] == "class_prior"
    # On the probability alone (flat noise) nothing like that can be certified.
    pooled = json.loads(invoke("suggest", "--model-version", "v3", "--guarantee", "pooled", "--json").stdout)
    assert pooled["topic"]["expected_auto_share"] < report["expected_auto_share"] / 2

    applied = invoke(
        "suggest", "--model-version", "v3", "--guarantee", "learned", "--apply", "--actor", "lena"
    )
    assert applied.exit_code == 0 and "thresholds version 2 is active" in applied.stdout
    with sessions() as session:
        model = active_confidence_model(session, load_taxonomy())
        assert model is not None and len(model.weights) == 10
    # A manual change keeps comparing the learned score; a rollback to version 1 compares the probability.
    tweak = invoke("set", "--set", "topic.tax_certificate=0.97", "--reason", "stricter", "--actor", "omar")
    assert tweak.exit_code == 0
    with sessions() as session:
        assert active_confidence_model(session, load_taxonomy()) is not None
    assert invoke("rollback", "1", "--reason", "back to the probability", "--actor", "lena").exit_code == 0
    with sessions() as session:
        assert active_confidence_model(session, load_taxonomy()) is None

    # Calibration predictions without signals (an export without evidence): a clear error, nothing stored.
    bad = invoke("suggest", "--model-version", "v4", "--guarantee", "learned", "--apply", "--actor", "lena")
    assert bad.exit_code == 1 and "carry no confidence signals" in bad.stderr
    assert "v5" not in invoke("history").stdout


def load_taxonomy():  # type: ignore[no-untyped-def]
    from postroom.clikit import load_settings, load_taxonomy_from

    return load_taxonomy_from(load_settings())


def test_set_and_rollback_warn_about_replies_outside_the_promise(sessions: sessionmaker[Session]) -> None:
    """A lead may set any threshold, but is told when an automated reply is not certified by the
    calibration, and when a rollback turns back on a class the feedback monitor switched off."""
    from postroom.clikit import load_settings, load_taxonomy_from
    from router.feedback import MONITOR_ACTOR
    from router.thresholds import set_thresholds

    _calibrate_v1(sessions)
    assert invoke("suggest", "--model-version", "v1", "--apply", "--actor", "lena").exit_code == 0
    report = json.loads(invoke("suggest", "--model-version", "v1", "--json").stdout)["topic"]
    certified = report["classes"]["account_statement"]["threshold"]

    def warned(result: Any) -> str:
        assert result.exit_code == 0, result.output
        return " ".join(result.stderr.split())

    uncertified = warned(invoke("set", "--set", "topic.card_replacement=0.9", "--reason", "trial"))
    assert (
        "warning: topic.card_replacement at 0.9 (the calibration certifies no threshold of it): outside the "
        "promise" in uncertified
    )
    low = warned(invoke("set", "--set", f"topic.account_statement={certified - 0.2:.3f}", "--reason", "more"))
    assert f"warning: topic.account_statement at {certified - 0.2:.3f}".rstrip("0") in low
    assert f"the calibration certifies {certified:g} and above" in low
    assert "card_replacement" not in low  # only the classes this change touches
    assert warned(invoke("set", "--set", f"topic.account_statement={certified}", "--reason", "back")) == ""
    taxonomy = load_taxonomy_from(load_settings())
    with sessions() as session:  # the monitor switches account_statement off, as `monitor` would
        set_thresholds(
            session,
            taxonomy,
            {"topic": {"account_statement": None}},
            MONITOR_ACTOR,
            "too many wrong replies",
            details={"suspension": True},
        )
        session.commit()
    back = invoke("rollback", "1", "--reason", "the suggestion again")
    assert f"topic.account_statement: off -> {certified:.3f}" in back.stdout
    assert "topic.card_replacement: 0.900 -> off" in back.stdout  # every change listed, as `set` does
    monitor = "topic.account_statement was switched off by the feedback monitor (thresholds version 5"
    assert f"warning: {monitor}" in warned(back)
    history = invoke("history").stdout
    assert "(rollback to version 1): the suggestion again" in history and " UTC by " in history
    logged = json.loads(runner.invoke(app, ["audit", "--kind", "thresholds.changed", "--json"]).stdout)
    newest = logged["events"][0]
    assert len(logged["events"]) == 6 and newest["subject"] == "thresholds v6"  # every version, newest first
    assert newest["payload"]["rollback_to"] == 1 and newest["payload"]["reason"] == "the suggestion again"


def test_a_set_whose_check_fails_is_stored_and_says_so_as_a_warning(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from postroom.store import StoreError
    from router import backing

    def unreadable(*_args: Any) -> None:
        raise StoreError("store postgresql://db/x unreachable: OperationalError: connection lost")

    monkeypatch.setattr(backing, "certifying_report", unreadable)
    result = invoke("set", "--set", "topic.card_replacement=0.9", "--reason", "trial")
    assert result.exit_code == 0, result.output  # the change is stored: a failing check does not undo that
    assert "thresholds version 1 is active" in result.stdout
    assert "warning: the change is stored, but could not be checked against the calibration: store " in (
        " ".join(result.stderr.split())
    )


def test_monitor_prints_realized_precision_and_suspends_with_evidence(
    sessions: sessionmaker[Session],
) -> None:
    """By hand, at target 0.95 (allowed error rate 0.05): the evidence for a higher error rate after e wrong
    of n is B(e+1, n-e+1) P(Bin(n+1, 0.05) <= e) / (0.05^e 0.95^(n-e+1)): 5 wrong of 15 gives
    (5! 10! / 16!) * 0.99992 / (0.05^5 * 0.95^11) = 117 >= 1/alpha = 20, so 10 right of 15 suspends; 1 wrong
    of 3 gives 1.9 and does not. A class that is off is listed, never suspended again."""
    from postroom.clikit import load_settings, load_taxonomy_from
    from router.feedback import record_feedback
    from router.thresholds import set_thresholds
    from tests.serving.lead_data import auto_replied

    empty = invoke("monitor")
    assert empty.exit_code == 0 and "no automated reply has feedback" in empty.stdout
    taxonomy = load_taxonomy_from(load_settings())
    with sessions() as session:
        on = {"account_statement": 0.9, "tax_certificate": 0.9}
        version = set_thresholds(
            session, taxonomy, {"topic": on}, "lena", "x", details={"target_precision": 0.95}
        )
        outcomes = {"account_statement": (15, 10), "tax_certificate": (3, 2), "address_change": (5, 0)}
        for reply_class, (n, right) in outcomes.items():
            for i in range(n):
                message = auto_replied(session, f"{reply_class}-{i}", reply_class, version.id)
                final = reply_class if i < right else "fee_complaint"
                record_feedback(session, taxonomy, message, {"topic": final}, i < right, "agent7")
        session.commit()
        version_id = version.id

    first = invoke("monitor")
    assert first.exit_code == 0, first.output
    assert "over the last 30 days (target 0.95, alpha 0.05):" in first.stdout
    since = f"replies since thresholds version {version_id}"
    assert f"account_statement: 10/15 right (66.7%), 10 resolved, {since}\n" in first.stdout
    assert f"tax_certificate: 2/3 right (66.7%), 2 resolved, {since}\n" in first.stdout
    assert "address_change: 0/5 right (0.0%), 0 resolved, auto-reply off" in first.stdout  # never on
    assert "suspended topic.account_statement: 10/15 right" in first.stdout
    assert "topic.tax_certificate" not in first.stdout and "topic.address_change" not in first.stdout
    again = invoke("monitor")
    assert f"account_statement: 10/15 right (66.7%), 10 resolved, {since}, auto-reply off" in again.stdout
    assert "no class needs suspending" in again.stdout


def test_zero_on_a_reply_class_needs_allow_zero(sessions: sessionmaker[Session]) -> None:
    """0 reads as "off" to a lead, but answers every prediction: `--off` is the way to switch a reply off."""
    zero = invoke("set", "--set", "topic.card_replacement=0", "--reason", "trust it", "--allow-zero")
    assert zero.exit_code == 0, zero.output
    assert "topic.card_replacement: off -> 0.000" in zero.stdout
    assert invoke("set", "--set", "queue.cards=0.3", "--reason", "triage below 0.3").exit_code == 0
    queue = invoke("set", "--set", "queue.cards=0", "--reason", "trust every queue prediction")
    assert queue.exit_code == 0, queue.output  # a queue's 0 is its default, not an automated reply
    refused = invoke("set", "--set", "topic.tax_certificate=0", "--reason", "meant off")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert (
        "`--off topic.tax_certificate` switches its automated reply off; add --allow-zero if 0 is meant"
        in " ".join(refused.stderr.split())
    )


def test_suggest_shows_queue_thresholds_as_triage(sessions: sessionmaker[Session]) -> None:
    """Queue thresholds are triage: the display says what goes straight to each queue and at what measured
    precision, and what goes to triage, not "off" and "0.0 % automated"."""
    with sessions() as session:  # accounts: enough to certify; payments: too few predictions
        seed_calibration(session, "v1", per_class=200, classes=("account_statement",))
        seed_calibration(session, "v1", per_class=15, classes=("standing_order",))
    result = invoke("suggest", "--model-version", "v1", "--queue-precision", "0.9", "--json")
    assert result.exit_code == 0, result.output
    queue = json.loads(result.stdout)["queue"]
    assert queue["role"] == "queue" and queue["triage_queue"] == "triage"
    classes = queue["classes"]
    certified = [c for c in classes.values() if c["threshold"] is not None]
    trusted = [c for c in classes.values() if c["threshold"] is None and c["predicted"]]
    assert len(certified) == 1 and len(trusted) == 1 and queue["calibration_size"] == 215
    for c in certified:
        assert c["straight_share"] == c["expected_coverage"] and c["straight_precision"] >= 0.9
    for c in trusted:  # applied as 0: every prediction of the queue goes straight to it
        assert c["straight_share"] == 15 / 215 and 0 < c["straight_precision"] <= 1
    straight = sum(c["straight_share"] for c in classes.values())
    assert queue["expected_straight_share"] == pytest.approx(straight)
    assert queue["expected_triage_share"] == pytest.approx(1 - straight) and 0 < straight < 1

    shown = invoke("suggest", "--model-version", "v1", "--queue-precision", "0.9")
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    queue_table = text[text.index("queue: target 0.90") :]
    assert "straight to queue" in queue_table and "precision there" in queue_table
    assert "automated" not in queue_table and " off " not in queue_table
    precision = queue["expected_straight_precision"]
    assert (
        f"expected: {queue['expected_straight_share']:.1%} of messages straight to their predicted queue at "
        f"precision {precision:.3f}, {queue['expected_triage_share']:.1%} to triage (triage)"
    ) in text
    assert "not certified, so trusted (no triage): precision" in queue_table
    assert "of messages automated at precision" in text[: text.index("queue: target 0.90")]  # the replies


@pytest.mark.parametrize(("column", "value", "problem"), DAMAGES)
def test_damaged_versions_are_one_line_and_history_marks_them(
    sessions: sessionmaker[Session], column: str, value: Any, problem: str
) -> None:
    for step in ("0.9", "0.8"):
        assert invoke("set", "--set", f"topic.card_replacement={step}", "--reason", step).exit_code == 0
    damage_version(sessions, 2, column, value)
    stored = stored_json(sessions, 2)
    for args in (["show"], ["set", "--set", "topic.card_replacement=0.7", "--reason", "x"]):
        result = invoke(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        line = " ".join(result.stderr.split())
        assert line.startswith(f"error: thresholds version 2 is damaged: {problem}"), line
        assert "roll back to an intact version" in line
    history = invoke("history")
    assert history.exit_code == 0, history.output
    lines = " ".join(history.stdout.split())
    assert f"damaged: {problem}" in lines and "topic.card_replacement: off -> 0.900" in lines
    assert lines.index("v2") < lines.index("damaged") < lines.index("v1")
    to_damaged = invoke("rollback", "2", "--reason", "x")
    assert to_damaged.exit_code == 1 and "roll back to another version" in to_damaged.stderr
    back = invoke("rollback", "1", "--reason", "v2 was edited by hand")
    assert back.exit_code == 0, back.output
    assert "active thresholds version: 3" in invoke("show").stdout
    assert "damaged" in invoke("history").stdout and stored_json(sessions, 2) == stored


def test_history_and_audit_show_a_stored_reason_as_one_line_of_plain_text(
    sessions: sessionmaker[Session], taxonomy: Any
) -> None:
    """A reason written before the API refused control characters (or into the store by hand) cannot
    recolour the terminal or print a forged second entry: its controls are shown as escapes."""
    from router.thresholds import set_thresholds

    forged = "ok\nv9 2026-12-06 20:01 UTC by boss: approved \x1b[31mred\x9b2J"
    with sessions() as session:
        set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", forged)
        session.commit()
    history = invoke("history").stdout
    audit = runner.invoke(app, ["audit"]).stdout
    for shown in (history, audit):
        assert "\x1b" not in shown and "\x9b" not in shown and "\\x1b[31mred" in shown
    assert not any(line.startswith("v9 ") for line in history.splitlines())
