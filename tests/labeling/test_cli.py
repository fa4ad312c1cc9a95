"""`postroom label …` through the CLI: status on a store (fast), the demo loop on a real Doccano (slow)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from labeling.cli import register
from labeling.project import label_text, open_project
from labeling.sync import PullReport, apply_labels, pending_push
from labeling.validate import Accepted
from postroom.clikit import CliRoots
from postroom.settings import get_settings
from postroom.taxonomy import Taxonomy
from tests.labeling.builders import bank_mails, store_mails
from tests.labeling.conftest import DoccanoServer

runner = CliRunner()



def use_doccano(
    monkeypatch: pytest.MonkeyPatch, doccano: DoccanoServer, project_name: str, **overrides: str
) -> None:
    """Point the CLI's settings at the test's Doccano and project (`overrides`: more POSTROOM_ variables)."""
    settings = {
        "POSTROOM_DOCCANO_URL": doccano.url,
        "POSTROOM_DOCCANO_USER": doccano.user,
        "POSTROOM_DOCCANO_PASSWORD": doccano.password,
        "POSTROOM_DOCCANO_PROJECT": project_name,
        **overrides,
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()

@pytest.fixture
def cli() -> typer.Typer:
    """A `postroom`-shaped app with only the labeling commands registered."""
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    register(CliRoots(app=app, bench=bench))
    return app


def test_status_shows_counts_and_blocking_classes(
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
    assert "account_closure" in data["label_sets"]["topic"]["blocking"]
    assert data["label_sets"]["queue"]["ready"] is True
    table = runner.invoke(cli, ["label", "status", "--source", "doccano"])
    assert "blocked by" in table.output and "ready to train" in table.output


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
