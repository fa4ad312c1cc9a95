"""`postroom label …` through the CLI: status on a store (fast), the demo loop on a real Doccano (slow)."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from labeling.doccano import Project
from labeling.project import ProjectLayout, ensure_project, label_text, open_project
from labeling.sync import PullReport, apply_labels, pending_push, record_pull_problems
from labeling.validate import Accepted, validate_export
from postroom.settings import get_settings
from postroom.store.models import AuditEvent
from postroom.taxonomy import Taxonomy
from tests.labeling.builders import bank_mails, store_mails
from tests.labeling.conftest import DoccanoServer, free_port, use_doccano

runner = CliRunner()


def test_status_shows_counts_and_classes_below_target(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails = bank_mails(8)
    store_mails(sessions, mails)
    with sessions.begin() as session:
        accepted = [Accepted(m.message_id, m.labels, ("anna",)) for m in mails]
        apply_labels(session, accepted, PullReport("p"), actor="t", when=datetime.now(UTC))
    monkeypatch.setenv("POSTROOM_LABELING_TARGET_PER_CLASS", "1")
    result = runner.invoke(cli, ["label", "status", "--source", "doccano", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["target"] == 1 and data["sources"] == ["doccano"]
    assert data["label_sets"]["topic"]["classes"]["card_replacement"] == {"labeled": 1, "missing": 0}
    assert "account_closure" in data["label_sets"]["topic"]["below_target"]
    assert data["label_sets"]["queue"]["at_target"] is True and data["at_target"] is False
    table = runner.invoke(cli, ["label", "status", "--source", "doccano"])
    assert "classes below target N = 1" in table.output and "every class at target N = 1" in table.output


def test_status_lists_the_problems_the_last_pull_recorded(
    cli: typer.Typer, sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    project = get_settings().doccano_project_name(taxonomy.name)
    layout = ProjectLayout(Project(7, project, created_at="2026-03-01T09:00:00Z"), {})
    good = ["lob:retail", "queue:cards", "topic:card_replacement"]
    rows = [{"id": i, "message_id": f"m-{i}", "label": []} for i in range(1, 8)]  # 7 marked done, unlabeled
    rows += [{"id": 8, "message_id": "m-8", "label": [*good[:2], "topic:nope"]}, {"id": 9, "label": good}]
    validation = validate_export(taxonomy, {"anna": rows}, {"anna": set(range(1, 8))})
    report = PullReport(project, problems=validation.problems, duplicates={"m-20": (20, 21)})

    def record(report: PullReport) -> None:
        with sessions.begin() as session:
            record_pull_problems(session, layout, report, "postroom")

    status = runner.invoke(cli, ["label", "status"])
    assert status.exit_code == 0 and "last pull" not in status.output  # nothing pulled yet
    record(report)
    record(report)  # a re-pull finding the same records nothing new
    shown = runner.invoke(cli, ["label", "status"])
    assert shown.exit_code == 0, shown.output
    assert "problems found by the last pull (`postroom label pull` shows each one):" in shown.output
    assert "marked done without any label: 7 (m-1, m-2, m-3, m-4, m-5 and 2 more)" in shown.output
    assert "label not in the taxonomy: 1 (m-8)" in shown.output
    assert "no message_id (not pushed by Postroom): 1 (example 9)" in shown.output
    assert "in the project more than once: 1 (m-20)" in shown.output
    data = json.loads(runner.invoke(cli, ["label", "status", "--json"]).output)
    assert data["last_pull_problems"]["done_without_label"] == {
        "count": 7, "message_ids": ["m-1", "m-2", "m-3", "m-4", "m-5"]
    }  # fmt: skip
    assert list(data["last_pull_problems"]) == [
        "done_without_label", "incomplete", "unknown_label", "no_message_id", "duplicate"
    ]  # fmt: skip
    with sessions() as session:
        kinds = session.scalars(select(AuditEvent.kind).where(AuditEvent.kind == "labeling.pull_problems"))
        assert len(list(kinds)) == 1
    record(PullReport(project))  # the experts fixed everything
    assert "the last pull found no problems" in runner.invoke(cli, ["label", "status"]).output


def test_pull_without_doccano_is_one_clear_line(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    result = runner.invoke(cli, ["label", "pull"])
    assert result.exit_code == 1
    assert "cannot reach Doccano at http://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_push_checks_doccano_before_choosing(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://127.0.0.1:9")  # nothing listens; not the default
    result = runner.invoke(cli, ["label", "push", "--n", "5"])  # an empty store: nothing would be chosen
    assert result.exit_code == 1, result.output
    assert "cannot reach Doccano at http://127.0.0.1:9" in result.output
    assert "is it running at http://127.0.0.1:9?" in result.output and "make doccano" not in result.output


def test_push_of_unknown_message_ids_names_them_and_fails(
    cli: typer.Typer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://127.0.0.1:9")  # not contacted: the IDs fail first
    result = runner.invoke(cli, ["label", "push", "--message-id", "nope-123"])
    assert result.exit_code == 1
    assert "no stored message has the ID nope-123" in result.output
    ids = [arg for i in range(12) for arg in ("--message-id", f"nope-{i}")]
    many = runner.invoke(cli, ["label", "push", *ids])
    assert many.exit_code == 1 and "nope-9 and 2 more" in many.output and "nope-10" not in many.output


@pytest.mark.slow
def test_demo_loop_push_simulate_pull_status(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store_mails(sessions, bank_mails(48, prefix="demo"), with_labels=True)  # the demo corpus: labels = truth
    use_doccano(monkeypatch, doccano, project_name, POSTROOM_LABELING_TARGET_PER_CLASS="2")

    pushed = runner.invoke(cli, ["label", "push", "--n", "16", "--source", "doccano"])
    assert pushed.exit_code == 0, pushed.output
    assert (
        "│ cold start (clusters) │" in pushed.output
        and "│ sent                           │ 16 " in pushed.output
    )
    simulated = runner.invoke(cli, ["label", "simulate"])
    assert simulated.exit_code == 0, simulated.output
    assert "sim-expert labeled 16 examples" in simulated.output
    pulled = runner.invoke(cli, ["label", "pull"])
    assert pulled.exit_code == 0, pulled.output
    assert pulled.output.rstrip().endswith("imported the labels of 16 examples; no problems")
    status = json.loads(runner.invoke(cli, ["label", "status", "--source", "doccano", "--json"]).output)
    assert sum(c["labeled"] for c in status["label_sets"]["topic"]["classes"].values()) == 16
    assert status["awaiting_expert"] == 0

    # the next round is chosen by uncertainty with the embedding proxy, and skips what is in Doccano
    again = runner.invoke(cli, ["label", "push", "--n", "8", "--source", "doccano"])
    assert again.exit_code == 0, again.output
    assert "uncertain (embedding proxy)" in again.output
    assert "│ sent                           │ 8 " in again.output


@pytest.mark.slow
def test_push_pull_messages_name_ids_problems_and_a_refused_login(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mails = bank_mails(3, prefix="cli")
    store_mails(sessions, mails)
    use_doccano(monkeypatch, doccano, project_name, POSTROOM_DOCCANO_PASSWORD="wrong-password")
    refused = runner.invoke(cli, ["label", "push", "--n", "2"])  # refused before choosing anything
    assert refused.exit_code == 1 and "refused the login" in refused.output
    with sessions() as session:
        assert pending_push(session, project_name) == []

    monkeypatch.setenv("POSTROOM_DOCCANO_PASSWORD", doccano.password)
    get_settings.cache_clear()
    ids = [mails[0].message_id, "nope-1", mails[1].message_id]
    pushed = runner.invoke(cli, ["label", "push", *(arg for i in ids for arg in ("--message-id", i))])
    assert pushed.exit_code == 0, pushed.output
    assert "not in the store nope-1" in pushed.output

    with doccano.admin() as admin, doccano.expert("anna") as anna:  # anna: one labeled, one "unclear"
        layout = open_project(admin, taxonomy, project_name)
        user = admin.find_user("anna")
        assert user is not None
        admin.add_member(layout.id, user)
        examples = {e.meta["message_id"]: e.id for e in anna.examples(layout.id)}
        for text in ("lob:retail", "queue:cards", "topic:card_replacement"):
            anna.add_category(layout.id, examples[mails[0].message_id], layout.label_ids[text])
        anna.set_confirmed(layout.id, examples[mails[1].message_id])
    pulled = runner.invoke(cli, ["label", "pull"])
    assert pulled.exit_code == 0, pulled.output  # the valid labels were imported
    assert f"not imported {mails[1].message_id}: marked done without any label" in pulled.output
    assert "(labeled by" not in pulled.output
    assert pulled.output.rstrip().endswith("imported the labels of 1 example; 1 problem (see above)")
    assert "comments in Doccano: 1 written, 0 unchanged, 0 removed (settled)" in pulled.output
    status = runner.invoke(cli, ["label", "status"])  # what the pull found, without pulling again
    assert f"marked done without any label: 1 ({mails[1].message_id})" in status.output


@pytest.mark.slow
def test_check_reports_keys_that_drifted_and_push_puts_them_back(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mails = bank_mails(1, prefix="keys")
    store_mails(sessions, mails)
    use_doccano(monkeypatch, doccano, project_name)
    with doccano.admin() as admin:
        layout = ensure_project(admin, taxonomy, project_name)
        labels = {t.text: t for t in admin.label_types(layout.id)}
        admin.update_label_type(layout.id, labels["lob:retail"], suffix_key="z")
    checked = runner.invoke(cli, ["label", "check"])
    assert checked.exit_code == 0, checked.output
    line = " ".join(checked.output.split())
    assert "shortcut keys 1 labels' keys differ from the guideline's" in line
    assert "lob:retail has key z, the guideline's is 1; `postroom label push` puts them back" in line
    pushed = runner.invoke(cli, ["label", "push", "--message-id", mails[0].message_id])
    assert pushed.exit_code == 0, pushed.output
    assert "shortcut keys restored 1 labels' keys were not the guideline's" in " ".join(pushed.output.split())
    assert "shortcut keys" not in runner.invoke(cli, ["label", "check"]).output


@pytest.mark.slow
def test_a_project_deleted_in_doccano_is_noticed_and_its_unlabeled_messages_are_selectable_again(
    cli: typer.Typer,
    doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    project_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mails = bank_mails(10, prefix="gone")
    store_mails(sessions, mails)
    use_doccano(monkeypatch, doccano, project_name)
    first = mails[:6]
    args = [a for m in first for a in ("--message-id", m.message_id)]
    pushed = runner.invoke(cli, ["label", "push", *args])
    assert pushed.exit_code == 0, pushed.output
    with doccano.admin() as admin, doccano.expert("anna") as anna:  # anna labels 2 of the 6
        layout = open_project(admin, taxonomy, project_name)
        user = admin.find_user("anna")
        assert user is not None
        admin.add_member(layout.id, user)
        examples = {e.meta["message_id"]: e.id for e in anna.examples(layout.id)}
        for mail in first[:2]:
            for set_name, class_name in mail.labels.items():
                text = label_text(taxonomy, set_name, class_name)
                anna.add_category(layout.id, examples[mail.message_id], layout.label_ids[text])
    assert runner.invoke(cli, ["label", "pull"]).exit_code == 0
    with doccano.admin() as admin:  # what the Doccano UI's delete does
        admin.request("DELETE", f"/v1/projects/{layout.id}")

    pulled = runner.invoke(cli, ["label", "pull"])
    assert pulled.exit_code == 1
    assert " ".join(pulled.output.split()).endswith(
        f"nothing to pull: the Doccano project {project_name} (id {layout.id}) that 6 pushed messages were "
        "sent to no longer exists (deleted or renamed in Doccano); the 4 without expert labels are "
        "selectable again (`postroom label push` starts a new project)"
    )
    checked = runner.invoke(cli, ["label", "check"])
    assert checked.exit_code == 0 and "not created yet" in checked.output  # noticed once, by the pull
    status = json.loads(runner.invoke(cli, ["label", "status", "--source", "doccano", "--json"]).output)
    assert status["awaiting_expert"] == 0
    assert sum(c["labeled"] for c in status["label_sets"]["topic"]["classes"].values()) == 2  # labels stay

    again = runner.invoke(cli, ["label", "push", "--n", "10", "--strategy", "random"])
    assert again.exit_code == 0, again.output
    assert "│ sent                           │ 8 " in again.output  # the 4 freed and the 4 never sent
    with doccano.admin() as admin:
        new = open_project(admin, taxonomy, project_name)
        sent = {e.meta["message_id"] for e in admin.examples(new.id)}
    assert new.id != layout.id and sent == {m.message_id for m in mails[2:]}


@pytest.fixture
def own_doccano(tmp_path: Path) -> Iterator[DoccanoServer]:
    """A Doccano of this test's own, whose data the test may wipe (the session's is shared)."""
    port = free_port()
    server = DoccanoServer(
        f"http://127.0.0.1:{port}", port, tmp_path / "doccano", "postroom-test", secrets.token_urlsafe(16)
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wipe(server: DoccanoServer) -> None:
    """Doccano's data lost: stopped, its data dir deleted, started afresh (project ids start at 1 again)."""
    server.stop()
    shutil.rmtree(server.data_dir)
    server.start()


@pytest.mark.slow
def test_a_wiped_doccano_whose_new_project_got_the_old_id_is_refused_until_accepted(
    cli: typer.Typer,
    own_doccano: DoccanoServer,
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mails = bank_mails(6, prefix="wipe")
    ids = [m.message_id for m in mails]
    store_mails(sessions, mails)
    project = "postroom-wipe"
    use_doccano(monkeypatch, own_doccano, project)
    first = runner.invoke(cli, ["label", "push", *(a for i in ids[:4] for a in ("--message-id", i))])
    assert first.exit_code == 0, first.output
    with own_doccano.admin() as admin:
        old = admin.find_project(project)
    assert old is not None

    wipe(own_doccano)
    with own_doccano.admin() as admin:  # someone sets the project up again before Postroom looks
        new = ensure_project(admin, taxonomy, project).project
    assert new.id == old.id and new.created_at != old.created_at
    for command in (["label", "push", "--message-id", ids[4]], ["label", "pull"], ["label", "check"]):
        refused = runner.invoke(cli, command)
        assert refused.exit_code == 1, refused.output
        line = " ".join(refused.output.split())
        assert f"Doccano's project {project} (id {new.id}, created {new.created_at}) is not the one" in line
        assert f"(that one was created {old.created_at})" in line and "Traceback" not in line
        assert "`postroom label check --accept-new-project` records the old project as gone" in line
    with own_doccano.admin() as admin:
        assert list(admin.examples(new.id)) == []  # nothing was pushed into the new project
    accepted = runner.invoke(cli, ["label", "check", "--accept-new-project"])
    assert accepted.exit_code == 0, accepted.output
    gone_line = " ".join(accepted.output.split())
    assert "a new project has its name and id); the 4 without expert labels" in gone_line
    again = runner.invoke(cli, ["label", "push", "--n", "10", "--strategy", "random"])
    assert again.exit_code == 0 and "│ sent                           │ 6 " in again.output, again.output
    with own_doccano.admin() as admin:
        assert sorted(e.meta["message_id"] for e in admin.examples(new.id)) == sorted(ids)
    status = json.loads(runner.invoke(cli, ["label", "status", "--json"]).output)
    assert status["awaiting_expert"] == 6

    wipe(own_doccano)  # and this time Postroom is first: it notices and starts the new project itself
    third = runner.invoke(cli, ["label", "push", "--n", "10", "--strategy", "random"])
    assert third.exit_code == 0, third.output
    assert "no longer exists (deleted or renamed in Doccano)" in " ".join(third.output.split())
    assert "│ sent                           │ 6 " in third.output
    with own_doccano.admin() as admin:
        newest = admin.find_project(project)
        assert newest is not None and newest.id == old.id
        assert sorted(e.meta["message_id"] for e in admin.examples(newest.id)) == sorted(ids)
    status = json.loads(runner.invoke(cli, ["label", "status", "--json"]).output)
    assert status["awaiting_expert"] == 6  # the records of the new project with the old id count
