"""Threshold versions in the store: every change recorded with who, why and the diff; rollback; validation."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from postroom.store.models import ThresholdVersion
from postroom.taxonomy import Taxonomy
from router.errors import (
    DamagedThresholdVersion,
    ThresholdError,
    ThresholdVersionNotFound,
    ZeroReplyThreshold,
)
from router.feedback import realized_precision, suspend_failing_classes
from router.suggest import apply_suggestion, suggest_from_store
from router.thresholds import (
    PROMISE_KEYS,
    Values,
    active_thresholds,
    active_values,
    active_version,
    damage,
    default_values,
    get_version,
    history,
    parse_threshold,
    promised,
    refuse_zero_replies,
    rollback,
    set_thresholds,
)
from tests.router.damaged import DAMAGES, damage_version, stored_json, write_raw
from tests.serving.lead_data import seed_calibration


def test_set_records_a_new_version_with_the_diff(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    with sessions() as session:
        assert active_values(session, taxonomy)[0] is None
        first = set_thresholds(
            session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", "first calibration"
        )
        second = set_thresholds(
            session, taxonomy, {"topic": {"card_replacement": 0.95}}, "omar", "too many errors"
        )
        session.commit()
    with sessions() as session:
        version, values = active_values(session, taxonomy)
        assert version == second.id and values["topic"]["card_replacement"] == 0.95
        assert values["topic"]["address_change"] is None and values["queue"]["cards"] == 0.0
        versions = history(session)
        assert [v.id for v in versions] == [second.id, first.id]
        assert versions[0].created_by == "omar" and versions[0].reason == "too many errors"
        assert versions[0].parent_id == first.id
        assert versions[0].details["changes"] == [
            {"label_set": "topic", "class_name": "card_replacement", "old": 0.9, "new": 0.95}
        ]


def test_rollback_writes_a_new_version_equal_to_the_old_one(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        first = set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", "calibrated")
        set_thresholds(
            session, taxonomy, {"topic": {"card_replacement": 0.5, "tax_certificate": 0.8}}, "x", "oops"
        )
        back = rollback(session, taxonomy, first.id, "lena", "0.5 gave wrong replies")
        session.commit()
        version, values = active_values(session, taxonomy)
        assert len(history(session)) == 3
    assert version == back.id and back.details["rollback_to"] == first.id
    assert values["topic"]["card_replacement"] == 0.9 and values["topic"]["tax_certificate"] is None


def test_a_rollback_to_a_version_without_a_promise_drops_the_promise(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """The rolled-back-to version was set by hand: no target, and later versions inherit none (the feedback
    monitor used to crash on the `None` target they carried)."""
    with sessions() as session:
        first = set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", "by hand")
        set_thresholds(
            session,
            taxonomy,
            {"topic": {"card_replacement": 0.8}},
            "lena",
            "calibrated",
            details={"target_precision": 0.99, "confidence": 0.9, "guarantee": "per-class"},
        )
        back = rollback(session, taxonomy, first.id, "lena", "back to the hand-set value")
        later = set_thresholds(session, taxonomy, {"topic": {"tax_certificate": 0.7}}, "omar", "by hand")
        session.commit()
        assert not set(PROMISE_KEYS) & set(back.details) and back.details["rollback_to"] == first.id
        assert not set(PROMISE_KEYS) & set(later.details)
        assert suspend_failing_classes(session, taxonomy, default_target=0.95) == []


def test_a_promise_left_empty_by_an_older_rollback_reads_as_the_default(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        session.add(
            ThresholdVersion(
                values=default_values(taxonomy),
                created_by="lena",
                reason="rolled back before the fix",
                details={"target_precision": None, "confidence": None, "rollback_to": 1},
            )
        )
        session.commit()
        version = active_version(session)
        assert promised(version, "target_precision", 0.95) == 0.95
        assert promised(version, "confidence", 0.9) == 0.9
        assert suspend_failing_classes(session, taxonomy, default_target=0.95) == []


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"topic": {"card_replacement": 1.5}}, "must be in \\[0, 1\\] or null"),
        ({"topic": {"mortgage": 0.9}}, "unknown class 'mortgage'"),
        ({"intent": {"x": 0.9}}, "unknown label set 'intent'"),
        ({"topic": {"card_replacement": None}}, "no threshold changes"),
        ({"topic": {"card_replacement": float("nan")}}, "must be a finite number"),
        ({"topic": {"fee_complaint": 0.9}}, "topic.fee_complaint has no effect: the class has no auto"),
        ({"line_of_business": {"retail": 0.5}}, "line_of_business.retail has no effect: only topic"),
        ({"line_of_business": {"business": None}}, "line_of_business.business has no effect"),
    ],
)
def test_invalid_changes_are_refused_and_nothing_is_stored(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, updates: dict, message: str
) -> None:
    with sessions() as session, pytest.raises(ThresholdError, match=message):
        set_thresholds(session, taxonomy, updates, "lena", "why")
    with sessions() as session:
        assert history(session) == []


def test_thresholds_that_decide_something_pass(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    """Queue thresholds (triage), templated reply classes, and turning an untemplated one off."""
    with sessions() as session:
        version = set_thresholds(
            session,
            taxonomy,
            {"queue": {"cards": 0.4}, "topic": {"card_replacement": 0.9, "fee_complaint": None}},
            "lena",
            "why",
        )
        assert [c["class_name"] for c in version.details["changes"]] == ["cards", "card_replacement"]


def test_a_rollback_does_not_restore_thresholds_that_decide_nothing(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """A version stored before such thresholds were refused: they can be reset to their defaults, and a
    rollback to it restores only the thresholds that decide something."""
    with sessions() as session:
        values = default_values(taxonomy)
        values["topic"].update(card_replacement=0.9, fee_complaint=0.8)
        values["line_of_business"]["retail"] = 0.5
        session.add(ThresholdVersion(values=values, created_by="lena", reason="before the fix", details={}))
        session.flush()
        old = active_version(session)
        assert old is not None
        changes: Values = {
            "topic": {"card_replacement": 0.5, "fee_complaint": None},
            "line_of_business": {"retail": 0},
        }
        set_thresholds(session, taxonomy, changes, "omar", "lower, and the others back to their defaults")
        back = rollback(session, taxonomy, old.id, "lena", "back")
        session.commit()
        _, active = active_values(session, taxonomy)
    assert [c["class_name"] for c in back.details["changes"]] == ["card_replacement"]
    assert active["topic"]["card_replacement"] == 0.9 and active["topic"]["fee_complaint"] is None
    assert active["line_of_business"]["retail"] == 0.0


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("1e-400", "is too small for a float: it would be stored as 0.0 (write 0 for zero)"),
        ("-1e-400", "is too small for a float"),
        ("2e-324", "is too small for a float"),
        ("1e999", "is not a finite number"),
        ("nan", "is not a finite number"),
        ("-inf", "is not a finite number"),
        ("high", "is not a number"),
    ],
)
def test_parse_threshold_refuses_what_a_float_cannot_hold(literal: str, message: str) -> None:
    with pytest.raises(ThresholdError, match="^" + re.escape(f"--set x: '{literal}' {message}")):
        parse_threshold(literal, "--set x")


@pytest.mark.parametrize(
    ("literal", "value"), [("0", 0.0), ("0e-400", 0.0), ("-0.0", 0.0), (" 0.93 ", 0.93), ("1e-320", 1e-320)]
)
def test_parse_threshold_keeps_what_was_written(literal: str, value: float) -> None:
    assert parse_threshold(literal, "--set x") == value


def test_reason_is_required_and_unknown_version_is_404(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        with pytest.raises(ThresholdError, match="a reason is required"):
            set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", "  ")
        with pytest.raises(ThresholdVersionNotFound):
            rollback(session, taxonomy, 42, "lena", "why")


def test_a_pooled_suggestion_without_templates_stores_no_reply_threshold(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """Without any template the pooled report still certifies every class, but the values to store give none
    a threshold (it would decide nothing and be refused), so the queue part of the suggestion applies."""
    sets = tuple(
        s.model_copy(update={"classes": tuple(c.model_copy(update={"auto_reply": {}}) for c in s.classes)})
        for s in taxonomy.label_sets
    )
    untemplated = taxonomy.model_copy(update={"label_sets": sets})
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=200)
        suggestion = suggest_from_store(
            session, untemplated, "v0001", 0.95, 0.9, "pooled", queue_precision=0.9
        )
        assert any(c["threshold"] is not None for c in suggestion.report["topic"]["classes"].values())
        assert set(suggestion.values["topic"].values()) == {None}
        version = apply_suggestion(session, untemplated, suggestion, "lena")
    assert {c["label_set"] for c in version.details["changes"]} == {"queue"}


def test_negative_zero_is_stored_as_zero(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    """JSON and the CLI can write -0.0; the history would show "-0.0" for what is 0."""
    with sessions() as session:
        version = set_thresholds(
            session, taxonomy, {"topic": {"card_replacement": 0.9}, "queue": {"cards": -0.0}}, "lena", "r"
        )
        session.commit()
        assert math.copysign(1.0, version.values["queue"]["cards"]) == 1.0


# ---------------------------------------------------------------- 0 on an automated-reply class


def test_zero_on_a_templated_reply_class_is_refused_unless_confirmed(taxonomy: Taxonomy) -> None:
    """0 answers every prediction of the class however unsure: one rule for the CLI and the API, each with
    its own way to switch a reply off and to confirm."""
    updates: Values = {"topic": {"card_replacement": 0.0, "tax_certificate": 0.9}}
    with pytest.raises(ZeroReplyThreshold) as refused:
        refuse_zero_replies(updates, taxonomy, "null for {name}", 'send "allow_zero": true')
    assert str(refused.value) == (
        "topic.card_replacement=0 would answer every message predicted as that class automatically, "
        "however unsure the model is; null for topic.card_replacement switches its automated reply off; "
        'send "allow_zero": true if 0 is meant'
    )
    assert refused.value.status_code == 422
    for fine in (
        {"topic": {"card_replacement": None, "tax_certificate": 1e-320}},
        {"queue": {"cards": 0.0}},  # a queue's 0 is its default: every prediction trusted
        {"topic": {"fee_complaint": 0.0}},  # no template: refused by refuse_without_effect, with that reason
        {"topic": {"mortgage": 0.0}},  # unknown: refused by validate_values
    ):
        refuse_zero_replies(fine, taxonomy, "x", "y")


# ---------------------------------------------------------------- damaged versions


def _two_versions(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    with sessions() as session:
        set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", "first")
        set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.8}}, "omar", "second")
        session.commit()


@pytest.mark.parametrize(("column", "value", "problem"), DAMAGES)
def test_a_damaged_active_version_is_refused_by_name_and_a_rollback_replaces_it(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, column: str, value: Any, problem: str
) -> None:
    _two_versions(sessions, taxonomy)
    damage_version(sessions, 2, column, value)
    stored = stored_json(sessions, 2)
    with sessions() as session:
        for read in (active_values, active_thresholds):
            with pytest.raises(DamagedThresholdVersion) as refused:
                read(session, taxonomy)
            assert str(refused.value).startswith(f"thresholds version 2 is damaged: {problem}")
            assert "roll back to an intact version" in str(refused.value)
            assert refused.value.status_code == 503
        with pytest.raises(DamagedThresholdVersion):
            set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.7}}, "lena", "on top of it")
        versions = history(session)
        assert [v.id for v in versions] == [2, 1] and damage(versions[1]) is None
        assert problem in str(damage(versions[0]))
        assert realized_precision(session, taxonomy) == {}  # reads every version's values: no crash
        with pytest.raises(ThresholdError, match="thresholds version 2 is damaged: .* roll back to another"):
            rollback(session, taxonomy, 2, "lena", "to the damaged one")
    with sessions() as session:
        back = rollback(session, taxonomy, 1, "lena", "v2 was changed by hand")
        session.commit()
        assert back.id == 3 and back.parent_id == 2 and back.details["over_damaged"] == 2
    with sessions() as session:
        assert active_values(session, taxonomy)[1]["topic"]["card_replacement"] == 0.9
        assert [v.id for v in history(session)] == [3, 2, 1]
    assert stored_json(sessions, 2) == stored  # the damaged row is kept as it was


def test_json_that_does_not_parse_is_damage_too(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, backend: str
) -> None:
    """SQLite keeps any text in a JSON column (PostgreSQL refuses it at the UPDATE)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL does not store text that is not JSON in a JSON column")
    _two_versions(sessions, taxonomy)
    write_raw(sessions, 1, "values", "{topic: 0.9")
    with sessions() as session:
        versions = history(session)
        unparsed = "its values are not JSON ('{topic: 0.9'), not an object of label sets"
        assert [damage(v) for v in versions] == [None, unparsed]
        assert active_values(session, taxonomy)[0] == 2
        assert realized_precision(session, taxonomy) == {}
        with pytest.raises(ThresholdError, match="thresholds version 1 is damaged: its values are not JSON"):
            rollback(session, taxonomy, 1, "lena", "back")
    write_raw(sessions, 2, "details", "not json")
    with sessions() as session:
        with pytest.raises(DamagedThresholdVersion, match="version 2 is damaged: its details are not JSON"):
            active_values(session, taxonomy)
        assert get_version(session, 1).values.text == "{topic: 0.9"
    assert stored_json(sessions, 1)[0] == "{topic: 0.9"


def test_equal_values_calibrated_for_another_model_are_a_new_version(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """A successor's suggestion may equal the active values (a 0.001 grid, classes off in both): stored as
    calibrated for the successor, or its automated replies would wait for ever (`replies_paused`)."""
    same = {"topic": {"card_replacement": 0.9}}
    with sessions() as session:
        set_thresholds(session, taxonomy, same, "lena", "v0001 calibrated", model_version="v0001")
        with pytest.raises(ThresholdError, match="no threshold changes"):
            set_thresholds(session, taxonomy, same, "lena", "again", model_version="v0001")
        with pytest.raises(ThresholdError, match="no threshold changes"):
            set_thresholds(session, taxonomy, same, "lena", "a manual change keeps the model")
        again = set_thresholds(session, taxonomy, same, "lena", "v0002 calibrated", model_version="v0002")
        session.commit()
        assert again.model_version == "v0002" and again.details["changes"] == []
        assert active_thresholds(session, taxonomy).replies_paused("v0002") is None


def test_a_rollback_restores_the_model_a_version_was_calibrated_for_none_included(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        by_hand = set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", "by hand")
        set_thresholds(
            session, taxonomy, {"topic": {"card_replacement": 0.8}}, "lena", "v0001", model_version="v0001"
        )
        back = rollback(session, taxonomy, by_hand.id, "lena", "back to the hand-set values")
        session.commit()
        assert back.model_version is None  # not the version before's v0001: nothing to pause on
        assert active_thresholds(session, taxonomy).replies_paused("v0002") is None
