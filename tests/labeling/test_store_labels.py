"""Writing pulled labels and counting progress, on SQLite and PostgreSQL (no Doccano needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from labeling.choose import choose_for_labeling
from labeling.corrections import corrections_to_review
from labeling.doccano import Project
from labeling.errors import ProjectReplaced
from labeling.status import labeling_status
from labeling.sync import (
    EVENT_PUSHED,
    EVENT_SELECTED,
    LABEL_SOURCE,
    SUBJECT_MARK,
    TRUNCATION_NOTE,
    PullReport,
    apply_labels,
    doccano_row,
    messages_elsewhere,
    pending_push,
    pushed_message_ids,
    record_gone_projects,
)
from labeling.validate import Accepted
from postroom.store.models import AuditEvent, Feedback, Label, Message, Prediction, RoutingDecision
from postroom.taxonomy import Taxonomy
from tests.labeling.builders import Mail, bank_mails, store_mails

WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def accepted(mail_id: str, **labels: str) -> Accepted:
    base = {"line_of_business": "retail", "queue": "cards", "topic": "card_replacement"}
    return Accepted(mail_id, {**base, **labels}, ("anna",))


def apply(sessions: sessionmaker[Session], *items: Accepted) -> PullReport:
    report = PullReport("p")
    with sessions.begin() as session:
        apply_labels(session, list(items), report, actor="postroom", when=WHEN)
    return report


def rows(
    sessions: sessionmaker[Session], message_id: str, set_name: str = "queue"
) -> list[tuple[str, str, bool]]:
    with sessions() as session:
        return [
            (r.class_name, r.source, r.is_current)
            for r in session.scalars(
                select(Label)
                .join(Message, Message.id == Label.message_pk)
                .where(Message.message_id == message_id, Label.label_set == set_name)
                .order_by(Label.id)
            )
        ]


def test_new_labels_are_stored_with_source_annotator_and_time(
    sessions: sessionmaker[Session],
) -> None:
    [mail] = bank_mails(1)
    store_mails(sessions, [mail])
    report = apply(sessions, accepted(mail.message_id))
    assert (report.added, report.changed, report.unchanged) == (3, 0, 0)
    with sessions() as session:
        labels = session.scalars(select(Label)).all()
        assert {(r.source, r.annotator, r.is_current) for r in labels} == {(LABEL_SOURCE, "anna", True)}
        assert all(r.created_at.replace(tzinfo=UTC) == WHEN for r in labels)


def test_reapplying_is_idempotent_and_a_change_keeps_history(sessions: sessionmaker[Session]) -> None:
    [mail] = bank_mails(1)
    store_mails(sessions, [mail])
    apply(sessions, accepted(mail.message_id))
    again = apply(sessions, accepted(mail.message_id))
    assert (again.added, again.unchanged) == (0, 3)
    assert rows(sessions, mail.message_id) == [("cards", "doccano", True)]
    changed = apply(sessions, accepted(mail.message_id, queue="complaints"))
    assert (changed.changed, changed.unchanged) == (1, 2)
    assert rows(sessions, mail.message_id) == [("cards", "doccano", False), ("complaints", "doccano", True)]
    with sessions() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.kind == "labeling.label_changed"))
        assert event is not None and event.payload["old"] == "cards" and event.payload["new"] == "complaints"


def test_expert_agreeing_with_an_import_label_is_recorded_as_confirmed(
    sessions: sessionmaker[Session],
) -> None:
    [mail] = bank_mails(1)
    store_mails(sessions, [mail], with_labels=True)
    report = apply(sessions, Accepted(mail.message_id, mail.labels, ("anna",)))
    assert report.confirmed == 3
    assert rows(sessions, mail.message_id) == [
        (mail.labels["queue"], "import", False),
        (mail.labels["queue"], "doccano", True),
    ]


def test_a_newer_feedback_label_is_not_reverted_by_a_repull(sessions: sessionmaker[Session]) -> None:
    [mail] = bank_mails(1)
    store_mails(sessions, [mail])
    apply(sessions, accepted(mail.message_id))
    with sessions.begin() as session:
        message = session.scalar(select(Message))
        assert message is not None
        old = session.scalar(select(Label).where(Label.label_set == "queue", Label.is_current.is_(True)))
        assert old is not None
        old.is_current = False
        session.add(Label(message=message, label_set="queue", class_name="payments", source="feedback"))
    report = apply(sessions, accepted(mail.message_id))
    assert report.kept_newer == 1
    assert rows(sessions, mail.message_id)[-1] == ("payments", "feedback", True)


def test_a_failed_write_leaves_nothing_behind(sessions: sessionmaker[Session]) -> None:
    mails = bank_mails(3)
    store_mails(sessions, mails)
    with pytest.raises(SQLAlchemyError), sessions.begin() as session:
        apply_labels(session, [accepted(m.message_id) for m in mails], PullReport("p"), actor="x", when=WHEN)
        session.flush()
        # the database refuses a row mid-write (a foreign key to no message): the transaction rolls back
        session.add(Label(message_pk=10**9, label_set="q", class_name="c", source="doccano"))
        session.flush()
    with sessions() as session:
        assert session.scalars(select(Label)).all() == []


def test_unknown_messages_are_reported_not_invented(sessions: sessionmaker[Session]) -> None:
    report = apply(sessions, accepted("never-stored"))
    assert report.not_in_store == ["never-stored"] and report.added == 0


def test_status_counts_per_class_against_the_target_and_names_blockers(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    mails = bank_mails(16)  # 8 topics, twice each
    store_mails(sessions, mails)
    apply(sessions, *(Accepted(m.message_id, m.labels, ("anna",)) for m in mails[:12]))
    with sessions.begin() as session:
        for mail in mails:
            session.add(
                AuditEvent(kind=EVENT_PUSHED, subject=mail.message_id, actor="t", payload={"project": "p"})
            )
    with sessions() as session:
        status = labeling_status(session, taxonomy, 2, ["doccano"], project="p")
        only_import = labeling_status(session, taxonomy, 2, ["import"])
    assert status.awaiting_expert == 4 and not status.at_target
    topic = next(s for s in status.sets if s.name == "topic")
    counts = {c.name: c.labeled for c in topic.classes}
    assert (
        counts["card_replacement"] == 2 and counts["order_execution"] == 1 and counts["account_closure"] == 0
    )
    assert "account_closure" in topic.below_target and "card_replacement" not in topic.below_target
    lob = next(s for s in status.sets if s.name == "line_of_business")
    assert lob.labeled == 12 and lob.below_target == ["business"]  # 9 retail, 2 brokerage, 1 business
    assert all(c.labeled == 0 for s in only_import.sets for c in s.classes)
    assert status.as_dict()["label_sets"]["topic"]["classes"]["account_closure"] == {
        "labeled": 0,
        "missing": 2,
    }


def test_agent_corrections_are_feedback_that_differs_from_the_prediction(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    mails = bank_mails(2)
    store_mails(sessions, mails)
    with sessions.begin() as session:
        messages = session.scalars(select(Message).order_by(Message.id)).all()
        for message, final_queue in zip(messages, ["payments", "cards"], strict=True):
            prediction = Prediction(
                message_pk=message.id, model_version="v1", variant="onnx-int8",
                results={"queue": {"class": "cards", "probability": 0.7}},
            )  # fmt: skip
            session.add(prediction)
            session.flush()
            decision = RoutingDecision(
                prediction_pk=prediction.id, message_pk=message.id, decision="human", queue="cards"
            )
            session.add(decision)
            session.flush()
            session.add(
                Feedback(
                    message_pk=message.id,
                    decision_pk=decision.id,
                    final_labels={"queue": final_queue},
                    agent="jo",
                )
            )
    with sessions() as session:
        found = corrections_to_review(session, taxonomy)
    assert found == {mails[0].message_id: "queue:payments (agent jo)"}


def test_a_deleted_project_frees_its_never_labeled_messages_and_keeps_pulled_labels(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    mails = bank_mails(30)
    store_mails(sessions, mails)
    with sessions.begin() as session:  # what push records: selected, then pushed, in project 1
        for kind in (EVENT_SELECTED, EVENT_PUSHED):
            for mail in mails:
                payload = {"project": "p", "project_id": 1}
                session.add(AuditEvent(kind=kind, subject=mail.message_id, actor="t", payload=payload))
    apply(sessions, *(Accepted(m.message_id, m.labels, ("anna",)) for m in mails[:13]))
    with sessions() as session:
        assert labeling_status(session, taxonomy, 2, ["doccano"], project="p").awaiting_expert == 17

    assert record_gone_projects(sessions, "p", Project(1, "p"), "t") == []  # still there: nothing changes
    (gone,) = record_gone_projects(sessions, "p", None, "t")  # deleted in Doccano
    assert str(gone) == (
        "the Doccano project p (id 1) that 30 pushed messages were sent to no longer exists (deleted or "
        "renamed in Doccano); the 17 without expert labels are selectable again"
    )
    assert record_gone_projects(sessions, "p", Project(2, "p"), "t") == []  # recorded once
    with sessions() as session:
        assert labeling_status(session, taxonomy, 2, ["doccano"], project="p").awaiting_expert == 0
        assert pending_push(session, "p") == [] and pushed_message_ids(session, "p") == set()
        choice = choose_for_labeling(
            session, taxonomy, 30, project="p", sources=["doccano"], target=2, strategy="random"
        )
        assert sorted(choice.message_ids) == sorted(m.message_id for m in mails[13:])
        assert session.scalar(select(func.count(Label.id))) == 39  # the pulled labels stay
        events = session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.kind == EVENT_PUSHED))
        assert events == 30  # nothing deleted: the old records stay as history


def test_a_choice_counts_the_near_copies_it_left_out(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """Resends of one email are near-copies: one is chosen, the others counted, so push can say why it sent
    fewer than asked (it once said "every message is labeled or already in Doccano")."""
    import numpy as np

    mails = bank_mails(3)
    resends = [Mail(f"resend-{i}@mail.example", "Card lost", "My card is gone, please block it.", "en")
               for i in range(3)]  # fmt: skip
    store_mails(sessions, [*mails, *resends])

    def embed(texts):  # type: ignore[no-untyped-def]
        """One direction per distinct text: copies coincide (cosine 1), the rest are orthogonal."""
        distinct = sorted(set(texts))
        return np.eye(len(distinct))[[distinct.index(t) for t in texts]]

    with sessions() as session:
        choice = choose_for_labeling(
            session, taxonomy, 10, project="p", sources=["doccano"], target=2, embed=embed
        )
        assert len(choice.message_ids) == 4 and choice.near_copies == 2
        assert len([m for m in choice.message_ids if m.startswith("resend-")]) == 1
        enough = choose_for_labeling(
            session, taxonomy, 3, project="p", sources=["doccano"], target=2, embed=embed
        )
        assert len(enough.message_ids) == 3 and enough.near_copies == 0  # as many as asked: none left out


def test_messages_in_another_project_are_not_chosen_until_that_project_is_gone(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    mails = bank_mails(6)
    store_mails(sessions, mails)
    with sessions.begin() as session:  # 2 pushed to project a, 1 selected for it (push interrupted)
        for kind, mail in [(EVENT_SELECTED, mails[0]), (EVENT_PUSHED, mails[0]), (EVENT_PUSHED, mails[1]),
                           (EVENT_SELECTED, mails[2])]:  # fmt: skip
            payload = {"project": "a", "project_id": 1}
            session.add(AuditEvent(kind=kind, subject=mail.message_id, actor="t", payload=payload))
    ids = [m.message_id for m in mails]

    def chosen(project: str) -> list[str]:
        with sessions() as session:
            choice = choose_for_labeling(
                session, taxonomy, 6, project=project, sources=["doccano"], target=2, strategy="random"
            )
        return sorted(choice.message_ids)

    with sessions() as session:
        assert messages_elsewhere(session, "b", ids) == {i: ["a"] for i in ids[:3]}
        assert messages_elsewhere(session, "a", ids) == {}
    assert chosen("b") == ids[3:]
    record_gone_projects(sessions, "a", None, "t")  # project a deleted in Doccano: its messages are free
    assert chosen("b") == ids
    with sessions() as session:
        assert messages_elsewhere(session, "b", ids) == {}


def test_the_text_sent_to_doccano_shows_the_subject_on_its_own_marked_line(
    sessions: sessionmaker[Session],
) -> None:
    mails = bank_mails(2)
    untitled = Mail("untitled@mail.example", "", "Hello,\n\nMy card is gone.\n\nBest regards", "en")
    store_mails(sessions, [*mails, untitled])
    with sessions() as session:
        stored = {m.message_id: m for m in session.scalars(select(Message))}
    message = stored[mails[0].message_id]
    text = doccano_row(message, 20_000)["text"]
    assert text == f"Subject: {mails[0].subject}\n\n{message.cleaned_text.strip()}"
    assert text.splitlines()[:2] == [f"{SUBJECT_MARK}{mails[0].subject}", ""]
    assert doccano_row(stored[untitled.message_id], 20_000)["text"].startswith("Subject: (no subject)\n\n")
    assert doccano_row(message, 20_000)["sender"] == (message.sender or "")
    message.sender, message.received_at = (
        "Tischlerei Petersen GmbH <finance@x>",
        datetime(2026, 1, 2, 9, 5, tzinfo=UTC),
    )
    shown = doccano_row(message, 20_000)  # beside the text: who wrote (the company), and when
    assert (shown["sender"], shown["received_at"]) == (
        "Tischlerei Petersen GmbH <finance@x>",
        "2026-01-02 09:05 UTC",
    )
    short = doccano_row(message, 100)["text"]  # a long text is cut at the end: the subject stays
    assert len(short) == 100 and short.startswith(f"Subject: {mails[0].subject}\n\n")
    assert short.endswith(TRUNCATION_NOTE)


def _record_push(sessions: sessionmaker[Session], mails: list[Mail], **payload: object) -> None:
    """What push records (selected, then pushed) for project "p" with `payload` (id, creation time)."""
    with sessions.begin() as session:
        for kind in (EVENT_SELECTED, EVENT_PUSHED):
            for mail in mails:
                data = {"project": "p", **payload}
                session.add(AuditEvent(kind=kind, subject=mail.message_id, actor="t", payload=data))


def test_a_new_project_with_the_recorded_name_and_id_is_refused_until_accepted(
    sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    mails = bank_mails(10)
    store_mails(sessions, mails)
    old, new = "2026-03-01T09:00:00.123456Z", "2026-03-05T14:00:00.654321Z"
    _record_push(sessions, mails[:6], project_id=1, project_created=old)
    apply(sessions, *(Accepted(m.message_id, m.labels, ("anna",)) for m in mails[:2]))
    assert record_gone_projects(sessions, "p", Project(1, "p", created_at=old), "t") == []  # the same one

    replaced = Project(1, "p", created_at=new)  # Doccano wiped: a new project got id 1
    with pytest.raises(ProjectReplaced) as refused:
        record_gone_projects(sessions, "p", replaced, "t")
    assert str(refused.value) == (
        f"Doccano's project p (id 1, created {new}) is not the one Postroom sent 6 messages to (that one "
        f"was created {old}): Doccano's data was wiped or replaced and a new project got the same name and "
        "id, so Postroom neither pushes to nor pulls from it. Restore Doccano's old data if you can; "
        "otherwise `postroom label check --accept-new-project` records the old project as gone (the 4 "
        "messages without expert labels become selectable again) and uses the new one"
    )
    with sessions() as session:  # nothing recorded
        assert len(pushed_message_ids(session, "p")) == 6

    (gone,) = record_gone_projects(sessions, "p", replaced, "t", accept_replaced=True)
    assert str(gone) == (
        "the Doccano project p (id 1) that 6 pushed messages were sent to no longer exists (Doccano's data "
        "was replaced and a new project has its name and id); the 4 without expert labels are selectable "
        "again"
    )
    with sessions() as session:
        assert pushed_message_ids(session, "p") == set()
    _record_push(sessions, mails[6:], project_id=1, project_created=new)  # pushes to the new project count
    assert record_gone_projects(sessions, "p", replaced, "t") == []
    with sessions() as session:
        assert pushed_message_ids(session, "p") == {m.message_id for m in mails[6:]}
        assert labeling_status(session, taxonomy, 2, ["doccano"], project="p").awaiting_expert == 4


def test_records_without_a_creation_time_are_checked_against_the_projects_age(
    sessions: sessionmaker[Session],
) -> None:
    """Records made before Postroom kept the creation time: a project younger than them is a new one."""
    mails = bank_mails(3)
    store_mails(sessions, mails)
    _record_push(sessions, mails, project_id=1)
    with sessions.begin() as session:
        first = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
        assert first is not None
        pushed_at = first.created_at
    skewed = (pushed_at + timedelta(minutes=5)).isoformat()  # Doccano's clock a little ahead: the same one
    assert record_gone_projects(sessions, "p", Project(1, "p", created_at=skewed), "t") == []
    assert record_gone_projects(sessions, "p", Project(1, "p"), "t") == []  # no creation time: no check
    days_later = (pushed_at + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    since = r"that one was in use since \d{4}-\d\d-\d\d \d\d:\d\d UTC, before the new one was created"
    with pytest.raises(ProjectReplaced, match=since):
        record_gone_projects(sessions, "p", Project(1, "p", created_at=days_later), "t")
