"""The labeling loop against a real Doccano 1.8.4: push, expert labels through Doccano's API, pull, store."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from labeling.doccano import DoccanoClient
from labeling.errors import DoccanoError, DoccanoTimeout, DoccanoUnavailable, UploadPending
from labeling.project import (
    assign_shortcuts,
    ensure_project,
    guideline_markdown,
    label_text,
    open_project,
    shortcut_drift,
    taxonomy_shortcuts,
    wanted_labels,
)
from labeling.status import labeling_status
from labeling.sync import (
    EVENT_LABEL_CHANGED,
    EVENT_PUSHED,
    LABEL_SOURCE,
    doccano_row,
    pending_push,
    pull_labels,
    push_messages,
    pushed_message_ids,
)
from postroom.store.models import AuditEvent, Label, Message
from postroom.taxonomy import Taxonomy
from tests.labeling.builders import Mail, bank_mails, store_mails
from tests.labeling.conftest import DoccanoServer

pytestmark = pytest.mark.slow


def label_as(
    expert: DoccanoClient, admin: DoccanoClient, taxonomy: Taxonomy, project: str, mail: Mail,
    labels: dict[str, str | list[str]], done: bool = False,
) -> None:  # fmt: skip
    """What an expert does in the UI: click one label per set (or several, or none), maybe mark it done."""
    layout = open_project(admin, taxonomy, project)
    user = admin.find_user(expert.username)
    assert user is not None
    admin.add_member(layout.id, user)
    example = next(e for e in expert.examples(layout.id) if e.meta["message_id"] == mail.message_id)
    for set_name, classes in labels.items():
        for class_name in [classes] if isinstance(classes, str) else classes:
            expert.add_category(
                layout.id, example.id, layout.label_ids[label_text(taxonomy, set_name, class_name)]
            )
    if done:
        expert.set_confirmed(layout.id, example.id)
        assert expert.is_confirmed(layout.id, example.id)


def doccano_labels(session: Session, message_id: str, current_only: bool = True) -> list[Label]:
    query = (
        select(Label)
        .join(Message, Message.id == Label.message_pk)
        .where(Message.message_id == message_id, Label.source == LABEL_SOURCE)
        .order_by(Label.id)
    )
    if current_only:
        query = query.where(Label.is_current.is_(True))
    return list(session.scalars(query))


def label_rows(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        return [
            (r.message_pk, r.label_set, r.class_name, r.source, r.annotator, r.is_current)
            for r in session.scalars(select(Label).order_by(Label.id))
        ]


def test_round_trip_push_label_pull(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(200)
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna, doccano.expert("ben") as ben:
        ids = [m.message_id for m in mails]
        report = push_messages(sessions, admin, taxonomy, project_name, [*ids, "never-stored"])
        assert len(report.pushed) == 200 and not report.already_in_doccano
        assert report.not_in_store == ["never-stored"]

        # the project as the expert finds it: multi-label, prefixed coloured labels, guideline, metadata
        project = admin.find_project(project_name)
        assert project is not None and not project.single_class_classification
        assert project.guideline == guideline_markdown(taxonomy)
        assert "Private current accounts, savings, cards" in project.guideline
        label_types = admin.label_types(project.id)
        types = {t.text: t.background_color for t in label_types}
        assert types == wanted_labels(taxonomy)
        keys = {t.text: t.suffix_key for t in label_types}  # a keyboard shortcut per label, in the guideline
        assert keys == assign_shortcuts(list(wanted_labels(taxonomy)))
        assert len(set(keys.values())) == len(keys)
        assert f"| `{keys['queue:cards']}` | `queue:cards` |" in project.guideline
        assert len({types["lob:retail"], types["queue:cards"], types["topic:card_replacement"]}) == 3
        examples = {e.meta["message_id"]: e for e in admin.examples(project.id)}
        assert len(examples) == 200
        first = examples[mails[0].message_id]
        assert first.meta["language"] == "en" and first.meta["subject"] == mails[0].subject
        assert {"sender", "received_at"} <= set(first.meta)  # shown beside the text
        assert first.text.startswith(f"Subject: {mails[0].subject}\n\n")  # the subject on its own line
        assert mails[0].body.splitlines()[2] in first.text.split("\n\n", 1)[1]

        # pushing again sends nothing
        again = push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        assert again.pushed == [] and len(again.already_in_doccano) == 200
        with sessions() as session:
            assert len(pushed_message_ids(session, project_name)) == 200
            assert pending_push(session, project_name) == []

        # anna labels 20 completely, one incompletely, one with two topics; ben disagrees with anna on one
        for mail in mails[:20]:
            label_as(anna, admin, taxonomy, project_name, mail, mail.labels)
        incomplete, conflicting, disputed = mails[20], mails[21], mails[0]
        label_as(  # marked done with a set left out: a problem
            anna, admin, taxonomy, project_name, incomplete, {"line_of_business": "retail", "queue": "cards"},
            done=True,
        )  # fmt: skip
        at_work = mails[23]  # a set left out, not marked done: anna is still at it, not a problem
        label_as(anna, admin, taxonomy, project_name, at_work, {"line_of_business": "retail"})
        label_as(  # two topics, marked done: a problem (not yet done, it would be anna still at it)
            anna, admin, taxonomy, project_name, conflicting,
            {**conflicting.labels, "topic": [conflicting.labels["topic"], "fee_complaint"]}, done=True,
        )  # fmt: skip
        label_as(ben, admin, taxonomy, project_name, disputed, {**disputed.labels, "queue": "complaints"})
        unclear = mails[22]  # anna marks it done without a label: she found it unclear
        label_as(anna, admin, taxonomy, project_name, unclear, {}, done=True)
        label_as(anna, admin, taxonomy, project_name, mails[1], {}, done=True)  # done after labeling: fine

        pulled = pull_labels(sessions, admin, taxonomy, project_name)

    assert (pulled.examples, pulled.pending, pulled.in_progress, pulled.accepted) == (200, 176, 1, 19)
    assert (pulled.added, pulled.changed, pulled.unchanged) == (57, 0, 0)
    problems = {p.message_id: p for p in pulled.problems}
    assert set(problems) == {
        incomplete.message_id, conflicting.message_id, disputed.message_id, unclear.message_id
    }  # fmt: skip
    assert str(problems[unclear.message_id]) == (
        f"{unclear.message_id}: marked done without any label: the expert may have found it unclear (anna)"
    )
    assert problems[incomplete.message_id].kinds == ("incomplete",)
    assert "no label for topic (anna)" in str(problems[incomplete.message_id])
    assert problems[conflicting.message_id].kinds == ("conflicting",)
    assert "2 labels for topic" in str(problems[conflicting.message_id])
    assert problems[disputed.message_id].annotators == ("anna", "ben")
    assert "annotators disagree on queue: cards (anna), complaints (ben)" in str(
        problems[disputed.message_id]
    )

    with sessions() as session:
        found = labeling_status(session, taxonomy, 8, ["doccano"], project=project_name).pull_problems
        assert found == {
            "done_without_label": {"count": 1, "message_ids": [unclear.message_id]},
            "incomplete": {"count": 1, "message_ids": [incomplete.message_id]},
            "conflicting": {"count": 2, "message_ids": sorted([conflicting.message_id, disputed.message_id])},
        }
        stored = doccano_labels(session, mails[1].message_id)
        assert {(r.label_set, r.class_name) for r in stored} == set(mails[1].labels.items())
        assert all(r.annotator == "anna" and r.created_at is not None for r in stored)
        for problem in (incomplete, conflicting, disputed):
            assert doccano_labels(session, problem.message_id, current_only=False) == []
        assert session.scalar(select(func.count(Label.id))) == 57


def test_repull_is_idempotent_and_a_changed_label_keeps_history(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(6, prefix="hist")
    store_mails(sessions, mails, with_labels=True)  # import labels: the expert confirms or changes them
    with doccano.admin() as admin, doccano.expert("anna") as anna:
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        for mail in mails[:3]:
            label_as(anna, admin, taxonomy, project_name, mail, mail.labels)
        first = pull_labels(sessions, admin, taxonomy, project_name)
        assert (first.confirmed, first.added, first.changed) == (9, 0, 0)
        before = label_rows(sessions)
        second = pull_labels(sessions, admin, taxonomy, project_name)
        assert (second.unchanged, second.confirmed, second.added, second.changed) == (9, 0, 0, 0)
        assert label_rows(sessions) == before

        # anna changes her mind about one queue: remove the old category, add the new one
        layout = open_project(admin, taxonomy, project_name)
        target = mails[0]
        example = next(e for e in anna.examples(layout.id) if e.meta["message_id"] == target.message_id)
        old_id = layout.label_ids[label_text(taxonomy, "queue", target.labels["queue"])]
        category = next(c for c in anna.categories(layout.id, example.id) if c.label == old_id)
        anna.delete_category(layout.id, example.id, category.id)
        anna.add_category(layout.id, example.id, layout.label_ids["queue:complaints"])
        third = pull_labels(sessions, admin, taxonomy, project_name)
    assert (third.changed, third.unchanged) == (1, 8)
    with sessions() as session:
        history = [
            (r.class_name, r.source, r.is_current)
            for r in session.scalars(
                select(Label)
                .join(Message, Message.id == Label.message_pk)
                .where(Message.message_id == target.message_id, Label.label_set == "queue")
                .order_by(Label.id)
            )
        ]
        assert history == [
            (target.labels["queue"], "import", False),
            (target.labels["queue"], "doccano", False),
            ("complaints", "doccano", True),
        ]
        event = session.scalar(select(AuditEvent).where(AuditEvent.kind == EVENT_LABEL_CHANGED))
        assert event is not None and event.subject == target.message_id
        assert event.payload["new"] == "complaints" and event.payload["annotators"] == ["anna"]


def test_worker_down_during_pull_times_out_clearly_and_imports_nothing(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(5, prefix="wrk")
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna:
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        for mail in mails:
            label_as(anna, admin, taxonomy, project_name, mail, mail.labels)
    doccano.stop(only="worker")
    with doccano.admin() as admin, pytest.raises(DoccanoUnavailable) as unhealthy:
        admin.health()
    assert str(unhealthy.value).startswith(
        "Doccano's task worker is not running (CeleryHealthCheckCelery: unavailable"
    )
    with doccano.admin(task_timeout=5) as admin, pytest.raises(DoccanoTimeout, match="task worker"):
        pull_labels(sessions, admin, taxonomy, project_name)
    assert label_rows(sessions) == []
    doccano.stop()
    doccano.start()
    with doccano.admin() as admin:
        assert pull_labels(sessions, admin, taxonomy, project_name).added == 15
    assert len(label_rows(sessions)) == 15


def test_doccano_stopped_mid_pull_leaves_the_store_unchanged_and_the_next_pull_finishes(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    mails = bank_mails(8, prefix="mid")
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna:
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        for mail in mails:
            label_as(anna, admin, taxonomy, project_name, mail, mail.labels)
        real_wait = DoccanoClient.wait_task

        def stop_then_wait(self: DoccanoClient, *args: Any, **kwargs: Any) -> Any:
            doccano.stop()  # the export has started; now the server goes away
            return real_wait(self, *args, **kwargs)

        monkeypatch.setattr(DoccanoClient, "wait_task", stop_then_wait)
        with pytest.raises(DoccanoUnavailable, match="cannot reach Doccano"):
            pull_labels(sessions, admin, taxonomy, project_name)
        monkeypatch.setattr(DoccanoClient, "wait_task", real_wait)
    assert label_rows(sessions) == []
    doccano.start()
    with doccano.admin() as admin:
        report = pull_labels(sessions, admin, taxonomy, project_name)
    assert (report.accepted, report.added) == (8, 24)


def test_doccano_stopped_mid_push_is_finished_by_the_next_push(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    mails = bank_mails(30, prefix="push")
    ids = [m.message_id for m in mails]
    store_mails(sessions, mails)
    real_upload = DoccanoClient.start_import
    uploads: list[int] = []

    def upload_then_stop(self: DoccanoClient, project_id: int, rows: Any, name: str = "x") -> str:
        if uploads:
            doccano.stop()  # the second batch finds the server gone
        uploads.append(len(rows))
        return real_upload(self, project_id, rows, name)

    monkeypatch.setattr(DoccanoClient, "start_import", upload_then_stop)
    with doccano.admin() as admin, pytest.raises(DoccanoUnavailable):
        push_messages(sessions, admin, taxonomy, project_name, ids, batch_size=10)
    monkeypatch.setattr(DoccanoClient, "start_import", real_upload)
    with sessions() as session:
        assert len(pushed_message_ids(session, project_name)) == 10
        assert pending_push(session, project_name) == ids[10:]
    doccano.start()
    with doccano.admin() as admin:
        with sessions() as session:
            resume = pending_push(session, project_name)
        report = push_messages(sessions, admin, taxonomy, project_name, resume, batch_size=10)
        assert len(report.pushed) == 20 and report.already_in_doccano == []
        layout = open_project(admin, taxonomy, project_name)
        in_doccano = [e.meta["message_id"] for e in admin.examples(layout.id)]
    assert sorted(in_doccano) == sorted(ids)  # each once
    with sessions() as session:
        assert pending_push(session, project_name) == []
        assert session.scalar(select(func.count()).where(AuditEvent.kind == EVENT_PUSHED)) == 30


def test_keys_deleted_renamed_or_edited_in_doccano_are_put_back_to_the_guideline_keys(
    doccano: DoccanoServer, taxonomy: Taxonomy, project_name: str
) -> None:
    keys = taxonomy_shortcuts(taxonomy)
    with doccano.admin() as admin:
        layout = ensure_project(admin, taxonomy, project_name)
        labels = {t.text: t for t in admin.label_types(layout.id)}
        assert {text: label.suffix_key for text, label in labels.items()} == keys
        # someone deleted lob:retail (push creates it again), renamed queue:cards (the renamed label keeps its
        # key), moved topic:card_replacement to z, and added a label of their own on lob:retail's key
        admin.request("DELETE", f"/v1/projects/{layout.id}/category-types/{labels['lob:retail'].id}")
        admin.update_label_type(layout.id, labels["queue:cards"], text="queue:cards-old")
        admin.update_label_type(layout.id, labels["topic:card_replacement"], suffix_key="z")
        admin.create_label_type(layout.id, "their:own", "#000000", "#ffffff", suffix_key=keys["lob:retail"])
        drifted = {d.label for d in shortcut_drift(taxonomy, admin.label_types(layout.id))}
        assert drifted == {"queue:cards-old", "topic:card_replacement", "their:own"}
        again = ensure_project(admin, taxonomy, project_name)
        now = {t.text: t.suffix_key for t in admin.label_types(layout.id)}
        project = admin.get_project(layout.id)
        assert shortcut_drift(taxonomy, admin.label_types(layout.id)) == []
        assert ensure_project(admin, taxonomy, project_name).keys_restored == ()  # nothing left to restore
    assert {text: now[text] for text in keys} == keys  # the recreated labels too: same label, same key
    assert now["queue:cards-old"] is None and now["their:own"] is None
    assert again.label_ids["lob:retail"] != labels["lob:retail"].id  # created again
    assert {d.label for d in again.keys_restored} == drifted
    assert project.guideline == guideline_markdown(taxonomy)


def test_a_push_retried_while_the_worker_is_down_is_refused_not_queued_twice(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(2, prefix="retry")
    ids = [m.message_id for m in mails]
    store_mails(sessions, mails)
    with doccano.admin() as admin:
        ensure_project(admin, taxonomy, project_name)
    doccano.stop(only="worker")
    with doccano.admin(task_timeout=5) as admin:
        with pytest.raises(DoccanoTimeout, match="task worker"):
            push_messages(sessions, admin, taxonomy, project_name, ids)
        with pytest.raises(UploadPending) as pending:  # the retry queues nothing
            push_messages(sessions, admin, taxonomy, project_name, ids)
    assert str(pending.value) == (
        "an earlier upload of 2 of these messages is still waiting for Doccano's task worker; start the "
        "worker, then push again (it will be reconciled)"
    )
    doccano.stop()
    doccano.start()  # the queued import runs now
    with doccano.admin() as admin:
        report = push_messages(sessions, admin, taxonomy, project_name, ids)
        layout = open_project(admin, taxonomy, project_name)
        in_doccano = [e.meta["message_id"] for e in admin.examples(layout.id)]
    assert report.pushed == [] and report.reconciled == 2 and report.duplicates == {}
    assert sorted(report.already_in_doccano) == sorted(ids)
    assert sorted(in_doccano) == sorted(ids)  # each once


def test_duplicate_examples_are_reported_and_differing_labels_on_them_not_merged(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(3, prefix="dup")
    ids = [m.message_id for m in mails]
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna:
        push_messages(sessions, admin, taxonomy, project_name, ids)
        layout = open_project(admin, taxonomy, project_name)
        with sessions() as session:  # someone imports two of them again: a copy each
            stored = {m.message_id: m for m in session.scalars(select(Message))}
            admin.upload_examples(layout.id, [doccano_row(stored[i], 20_000) for i in ids[:2]])
        report = push_messages(sessions, admin, taxonomy, project_name, ids)
        assert report.pushed == [] and set(report.duplicates) == set(ids[:2])
        copies = report.duplicates[ids[0]]
        assert report.duplicate_lines()[0] == (
            f"message {ids[0]} is in the project twice (examples {copies[0]}, {copies[1]}): delete one in "
            "Doccano"
        )
        user = admin.find_user("anna")
        assert user is not None
        admin.add_member(layout.id, user)
        for message_id, topics in ((ids[0], ("card_replacement", "fee_complaint")), (ids[1], ("x", "x"))):
            for example_id, topic in zip(report.duplicates[message_id], topics, strict=True):
                labels = dict(mails[ids.index(message_id)].labels)
                if topic != "x":
                    labels["topic"] = topic
                for set_name, class_name in labels.items():
                    text = label_text(taxonomy, set_name, class_name)
                    anna.add_category(layout.id, example_id, layout.label_ids[text])
        pulled = pull_labels(sessions, admin, taxonomy, project_name)
    assert pulled.duplicates == {m: tuple(report.duplicates[m]) for m in ids[:2]}
    assert pulled.accepted == 1  # the copies labeled alike
    (problem,) = pulled.problems
    assert problem.message_id == ids[0] and problem.kinds == ("conflicting",)
    assert "its copies are labeled differently" in str(problem) and "topic:fee_complaint" in str(problem)
    with sessions() as session:
        assert doccano_labels(session, ids[0]) == [] and len(doccano_labels(session, ids[1])) == 3


def test_examples_pushed_in_the_old_layout_are_matched_by_message_id_and_pull(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(2, prefix="layout")
    ids = [m.message_id for m in mails]
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna:
        layout = ensure_project(admin, taxonomy, project_name)
        with sessions() as session:  # pushed before the subject got its own line: subject and body run on
            old = session.scalars(select(Message).where(Message.message_id == ids[0])).one()
            admin.upload_examples(layout.id, [{**doccano_row(old, 20_000), "text": old.model_text}])
        report = push_messages(sessions, admin, taxonomy, project_name, ids)
        assert report.pushed == [ids[1]] and report.already_in_doccano == [ids[0]] and report.reconciled == 1
        texts = {e.meta["message_id"]: e.text for e in admin.examples(layout.id)}
        assert texts[ids[0]].startswith(f"{mails[0].subject}\n") and texts[ids[1]].startswith("Subject: ")
        for mail in mails:
            label_as(anna, admin, taxonomy, project_name, mail, mail.labels)
        pulled = pull_labels(sessions, admin, taxonomy, project_name)
    assert (pulled.accepted, pulled.added, pulled.problems) == (2, 6, [])
    with sessions() as session:
        for mail in mails:
            stored = {(r.label_set, r.class_name) for r in doccano_labels(session, mail.message_id)}
            assert stored == set(mail.labels.items())


def test_check_refuses_what_experts_could_not_label_and_users_who_could_not_push(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    """A sequence-labeling project, a single-label one; an annotator as Postroom's user (its role)."""
    mails = bank_mails(2)
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna, doccano.expert("carl") as carl:
        for kind, project_type, resource, single in (
            ("seq", "SequenceLabeling", "SequenceLabelingProject", False),
            ("single", "DocumentClassification", "TextClassificationProject", True),
        ):
            name = f"{project_name}-{kind}"
            admin.request(
                "POST", "/v1/projects",
                json={"name": name, "description": "d", "guideline": "g", "project_type": project_type,
                      "resourcetype": resource, "single_class_classification": single},
            )  # fmt: skip
            with pytest.raises(DoccanoError, match="is a SequenceLabeling project|allows one label"):
                push_messages(sessions, admin, taxonomy, name, [mails[0].message_id])
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        label_as(anna, admin, taxonomy, project_name, mails[0], {})  # makes anna an annotator
        project = admin.find_project(project_name)
        assert project is not None
        assert admin.me().is_superuser and not anna.me().is_superuser
        assert anna.my_role(project.id) == "annotator"
        assert carl.my_role(project.id) is None  # no member


def test_start_after_the_worker_stopped_restarts_both_halves(doccano: DoccanoServer) -> None:
    """`label check` says "start.sh starts it" when the worker is down: it must, not "already running"."""
    doccano.stop(only="worker")
    with doccano.admin() as admin, pytest.raises(DoccanoUnavailable, match="task worker"):
        admin.health()
    doccano.start()
    with doccano.admin() as admin:
        admin.health()


def test_an_example_deleted_in_doccano_is_reported_by_pull_and_push_sends_it_again(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(3)
    store_mails(sessions, mails)
    with doccano.admin() as admin:
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        project = admin.find_project(project_name)
        assert project is not None
        gone = next(e for e in admin.examples(project.id) if e.meta["message_id"] == mails[1].message_id)
        admin.request("DELETE", f"/v1/projects/{project.id}/examples/{gone.id}")
        assert pull_labels(sessions, admin, taxonomy, project_name).deleted == [mails[1].message_id]
        # set aside: said once, no longer awaiting an expert
        assert pull_labels(sessions, admin, taxonomy, project_name).deleted == []
        with sessions() as session:
            status = labeling_status(session, taxonomy, 2, ["doccano"], project=project_name)
        assert status.awaiting_expert == 2
        again = push_messages(sessions, admin, taxonomy, project_name, [mails[1].message_id])
        assert again.pushed == [mails[1].message_id]
        assert pull_labels(sessions, admin, taxonomy, project_name).deleted == []
        with sessions() as session:  # sent again: awaiting an expert again
            status = labeling_status(session, taxonomy, 2, ["doccano"], project=project_name)
        assert status.awaiting_expert == 3
