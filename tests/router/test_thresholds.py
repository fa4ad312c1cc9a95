"""Threshold versions in the store: every change recorded with who, why and the diff; rollback; validation."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from postroom.taxonomy import Taxonomy
from router.errors import ThresholdError, ThresholdVersionNotFound
from router.thresholds import active_values, history, rollback, set_thresholds


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
