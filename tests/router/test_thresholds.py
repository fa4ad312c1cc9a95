"""Threshold versions in the store: every change recorded with who, why and the diff; rollback; validation."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from postroom.store.models import ThresholdVersion
from postroom.taxonomy import Taxonomy
from router.errors import ThresholdError, ThresholdVersionNotFound
from router.feedback import suspend_failing_classes
from router.thresholds import (
    PROMISE_KEYS,
    active_values,
    active_version,
    default_values,
    history,
    promised,
    rollback,
    set_thresholds,
)


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
    ],
)
def test_invalid_changes_are_refused_and_nothing_is_stored(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, updates: dict, message: str
) -> None:
    with sessions() as session, pytest.raises(ThresholdError, match=message):
        set_thresholds(session, taxonomy, updates, "lena", "why")
    with sessions() as session:
        assert history(session) == []


def test_reason_is_required_and_unknown_version_is_404(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    with sessions() as session:
        with pytest.raises(ThresholdError, match="a reason is required"):
            set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.9}}, "lena", "  ")
        with pytest.raises(ThresholdVersionNotFound):
            rollback(session, taxonomy, 42, "lena", "why")
