"""What happens to the labeling loop when people change things in a real Doccano 1.8.4: an annotator removed
from the project, a message sent to two projects, problems written back as comments."""

from __future__ import annotations

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from labeling.comments import MARK, CommentReport
from labeling.errors import LabelingError
from labeling.project import label_text, open_project
from labeling.status import labeling_status
from labeling.sync import pull_labels, push_messages
from postroom.taxonomy import Taxonomy
from tests.labeling.builders import bank_mails, store_mails
from tests.labeling.conftest import DoccanoServer, use_doccano
from tests.labeling.test_roundtrip import doccano_labels, label_as, label_rows

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_an_annotator_removed_from_the_project_keeps_counting_until_dropped(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mails = bank_mails(4, prefix="removed")
    disputed, agreed, bens, annas = mails
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna, doccano.expert("ben") as ben:
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        for expert, mail, labels in (
            (anna, disputed, disputed.labels), (ben, disputed, {**disputed.labels, "queue": "complaints"}),
            (anna, agreed, agreed.labels), (ben, agreed, agreed.labels),
            (ben, bens, bens.labels), (anna, annas, annas.labels),
        ):  # fmt: skip
            label_as(expert, admin, taxonomy, project_name, mail, labels)
        first = pull_labels(sessions, admin, taxonomy, project_name)
        assert [p.message_id for p in first.problems] == [disputed.message_id]
        assert first.accepted == 3 and first.missing_annotators == {}
        stored = label_rows(sessions)

        layout = open_project(admin, taxonomy, project_name)
        admin.remove_member(layout.id, "ben")  # the team lead removes ben in Doccano's Members page
        assert "ben" not in admin.export_annotations(layout.id)  # Doccano's export: members only
        second = pull_labels(sessions, admin, taxonomy, project_name)
        # the disagreement did not silently turn into anna's labels: ben's last-pulled labels still count
        (problem,) = second.problems
        assert problem.message_id == disputed.message_id and problem.kinds == ("conflicting",)
        assert "annotators disagree on queue: cards (anna), complaints (ben)" in str(problem)
        assert "ben is no longer in the project: the labels Postroom last pulled count" in str(problem)
        assert second.missing_annotators == {"ben": sorted(m.message_id for m in (disputed, agreed, bens))}
        assert (second.accepted, second.pending, second.added, second.changed) == (3, 0, 0, 0)
        assert label_rows(sessions) == stored
        with sessions() as session:
            found = labeling_status(session, taxonomy, 8, ["doccano"], project=project_name).pull_problems
        assert found is not None and found["annotator_gone"]["count"] == 3

        use_doccano(monkeypatch, doccano, project_name)
        shown = " ".join(runner.invoke(cli, ["label", "pull", "--no-comments"]).output.split())
        ids = ", ".join(second.missing_annotators["ben"])
        assert (
            "annotator gone ben is no longer in the project (Doccano's export leaves them out): their labels "
            f"of 3 messages, as last pulled, still count ({ids}); add them back to the project to change "
            "them, or `postroom label pull --drop-annotator ben` to stop counting them"
        ) in shown
        assert "ben is no longer in the project: the labels Postroom last pulled count" in shown

        with pytest.raises(LabelingError, match=r"cannot drop anna: .*\(missing now: ben\)"):
            pull_labels(sessions, admin, taxonomy, project_name, drop_annotators=["anna"])
        dropped = runner.invoke(cli, ["label", "pull", "--drop-annotator", "ben"])
        assert dropped.exit_code == 0, dropped.output
        assert "annotator dropped the labels of ben no longer count for 3 messages" in " ".join(
            dropped.output.split()
        )
        assert dropped.output.rstrip().endswith("imported the labels of 3 examples; no problems")
        with sessions() as session:
            found = labeling_status(session, taxonomy, 8, ["doccano"], project=project_name).pull_problems
        assert found == {}
        with sessions() as session:  # anna's labels of the disputed one; ben's of his own stay in the store
            assert {(r.label_set, r.class_name) for r in doccano_labels(session, disputed.message_id)} == set(
                disputed.labels.items()
            )
            assert {r.annotator for r in doccano_labels(session, bens.message_id)} == {"ben"}
        fourth = pull_labels(sessions, admin, taxonomy, project_name)
        assert fourth.problems == [] and fourth.missing_annotators == {} and fourth.added == 0

        user = admin.find_user("ben")
        assert user is not None
        admin.add_member(layout.id, user)  # ben is back: Doccano kept his labels, the disagreement returns
        fifth = pull_labels(sessions, admin, taxonomy, project_name)
    assert [p.message_id for p in fifth.problems] == [disputed.message_id]


def test_a_message_in_two_projects_is_refused_and_if_sent_anyway_disagreement_is_a_conflict(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(3, prefix="two")
    ids = [m.message_id for m in mails]
    store_mails(sessions, mails)
    first, second = f"{project_name}-a", f"{project_name}-b"
    with doccano.admin() as admin, doccano.expert("anna") as anna, doccano.expert("ben") as ben:
        push_messages(sessions, admin, taxonomy, first, ids)
        refused = push_messages(sessions, admin, taxonomy, second, ids)
        assert refused.pushed == [] and refused.in_other_project == {i: [first] for i in ids}
        sent = push_messages(sessions, admin, taxonomy, second, ids[:2], allow_other_projects=True)
        assert sent.pushed == ids[:2] and sent.in_other_project == {}

        split, same = mails[:2]
        for expert, project, mail, labels in (
            (anna, first, split, split.labels), (ben, second, split, {**split.labels, "queue": "complaints"}),
            (anna, first, same, same.labels), (ben, second, same, same.labels),
        ):  # fmt: skip
            label_as(expert, admin, taxonomy, project, mail, labels)
        from_first = pull_labels(sessions, admin, taxonomy, first)
        assert (from_first.accepted, from_first.added, from_first.problems) == (2, 6, [])
        stored = label_rows(sessions)
        for project in (second, first, second):  # no flip-flop: each pull finds the conflict
            pulled = pull_labels(sessions, admin, taxonomy, project)
            (problem,) = pulled.problems
            assert problem.message_id == split.message_id and problem.kinds == ("conflicting",)
            other = first if project == second else second
            assert f"in project {other})" in str(problem) and "projects disagree on queue" in str(problem)
            assert (pulled.accepted, pulled.added, pulled.changed) == (1, 0, 0)
            assert label_rows(sessions) == stored

        # ben comes round in the second project: both agree, nothing is a problem any more
        layout = open_project(admin, taxonomy, second)
        example = next(e for e in ben.examples(layout.id) if e.meta["message_id"] == split.message_id)
        wrong = layout.label_ids["queue:complaints"]
        (category,) = [c for c in ben.categories(layout.id, example.id) if c.label == wrong]
        ben.delete_category(layout.id, example.id, category.id)
        ben.add_category(layout.id, example.id, layout.label_ids[label_text(taxonomy, "queue", "cards")])
        assert pull_labels(sessions, admin, taxonomy, second).problems == []
        assert pull_labels(sessions, admin, taxonomy, first).problems == []
    assert label_rows(sessions) == stored


def test_problems_are_written_into_doccano_as_comments_once_and_removed_when_settled(
    doccano: DoccanoServer, sessions: sessionmaker[Session], taxonomy: Taxonomy, project_name: str
) -> None:
    mails = bank_mails(4, prefix="comment")
    incomplete, two_topics, good, strange = mails
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna:
        push_messages(sessions, admin, taxonomy, project_name, [m.message_id for m in mails])
        layout = open_project(admin, taxonomy, project_name)
        private = admin.create_label_type(layout.id, "lob:private", "#000000", "#ffffff")  # not Postroom's
        label_as(anna, admin, taxonomy, project_name, incomplete, {"line_of_business": "retail"}, done=True)
        label_as(  # marked done with two topics: a problem (not yet done, anna would still be at it)
            anna, admin, taxonomy, project_name, two_topics,
            {**two_topics.labels, "topic": [two_topics.labels["topic"], "fee_complaint"]}, done=True,
        )  # fmt: skip
        label_as(anna, admin, taxonomy, project_name, good, good.labels)
        label_as(anna, admin, taxonomy, project_name, strange, {"queue": "cards", "topic": "fee_complaint"})
        examples = {e.meta["message_id"]: e.id for e in admin.examples(layout.id)}
        anna.add_comment(layout.id, examples[incomplete.message_id], "not sure about this one")  # her own
        strange_id = examples[strange.message_id]
        anna.add_category(layout.id, strange_id, private.id)

        first = pull_labels(sessions, admin, taxonomy, project_name)
        assert first.comments == CommentReport(written=3, kept=0, removed=0)
        seen_by_anna = {c.example: c for c in anna.comments(layout.id) if c.text.startswith(MARK)}
        problems = {examples[m.message_id] for m in (incomplete, two_topics, strange)}
        assert set(seen_by_anna) == problems  # the expert sees them on the annotation page
        assert seen_by_anna[examples[incomplete.message_id]].text.startswith(
            f"{MARK} not imported into Postroom: no label for queue, topic (anna)"
        )
        assert "label 'lob:private' is not in the taxonomy" in seen_by_anna[strange_id].text
        assert "2 labels for topic" in seen_by_anna[examples[two_topics.message_id]].text

        again = pull_labels(sessions, admin, taxonomy, project_name)  # no duplicates
        assert again.comments == CommentReport(written=0, kept=3, removed=0)
        assert {c.id for c in anna.comments(layout.id) if c.text.startswith(MARK)} == {
            c.id for c in seen_by_anna.values()
        }

        # anna settles the two topics; the comment goes, the others stay, her own comment is untouched
        example_id = examples[two_topics.message_id]
        extra = layout.label_ids["topic:fee_complaint"]
        (category,) = [c for c in anna.categories(layout.id, example_id) if c.label == extra]
        anna.delete_category(layout.id, example_id, category.id)
        settled = pull_labels(sessions, admin, taxonomy, project_name)
        assert settled.comments == CommentReport(written=0, kept=2, removed=1)
        left = anna.comments(layout.id)
        assert {c.example for c in left if c.text.startswith(MARK)} == problems - {example_id}
        assert [c.text for c in left if c.username == "anna"] == ["not sure about this one"]

        quiet = pull_labels(sessions, admin, taxonomy, project_name, comments=False)
        assert quiet.comments is None and len(anna.comments(layout.id)) == 3
