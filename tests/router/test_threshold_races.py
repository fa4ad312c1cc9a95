"""Threshold writers take turns: a change made while another is being written lands on top of it, or, with
the version its caller read (`base_version`), is refused with 409; no change is lost (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from postroom.taxonomy import Taxonomy
from router.errors import ThresholdsChanged
from router.thresholds import active_values, history, rollback, set_thresholds
from tests.router.races import while_another_writes


def _while_another_writes(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, second: Callable[[Session], object]
) -> object:
    """Run `second` while a first writer holds an uncommitted version; returns what `second` returned or
    raised."""

    def first(session: Session) -> None:
        set_thresholds(session, taxonomy, {"topic": {"card_replacement": 0.8}}, "lena", "first writer")

    return while_another_writes(sessions, first, second)


def _base(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> int:
    with sessions() as session:
        version = set_thresholds(session, taxonomy, {"topic": {"tax_certificate": 0.9}}, "lena", "base")
        session.commit()
        return version.id


def test_a_change_made_meanwhile_lands_on_top_of_the_other(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    base = _base(sessions, taxonomy)
    second = _while_another_writes(
        sessions,
        taxonomy,
        lambda s: set_thresholds(s, taxonomy, {"topic": {"address_change": 0.7}}, "omar", "second writer"),
    )
    assert not isinstance(second, Exception), second
    with sessions() as session:
        versions = history(session)
        _, values = active_values(session, taxonomy)
    assert [v.parent_id for v in versions] == [versions[1].id, base, None]  # a line, not a fork
    assert values["topic"]["card_replacement"] == 0.8  # the first writer's change is kept
    assert values["topic"]["address_change"] == 0.7 and values["topic"]["tax_certificate"] == 0.9


@pytest.mark.parametrize("kind", ["change", "rollback"])
def test_a_change_based_on_a_version_no_longer_active_is_refused(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, kind: str
) -> None:
    base = _base(sessions, taxonomy)

    def second(session: Session) -> object:
        if kind == "rollback":
            return rollback(session, taxonomy, base, "omar", "back", base_version=base)
        updates = {"topic": {"address_change": 0.7}}
        return set_thresholds(session, taxonomy, updates, "omar", "second writer", base_version=base)

    refused = _while_another_writes(sessions, taxonomy, second)
    assert isinstance(refused, ThresholdsChanged)
    assert f"version {base + 1} is active, not {base}" in str(refused)
    with sessions() as session:
        assert len(history(session)) == 2  # the base and the first writer's version; nothing else
        assert active_values(session, taxonomy)[1]["topic"]["card_replacement"] == 0.8
