"""API keys (hashed, salted, roles) and the serving commands that need no server."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.clikit import CliRoots
from postroom.errors import ConfigError
from postroom.store.models import AuditEvent
from serving import cli as serving_cli
from serving.auth import KeyStore, add_key, grants, hash_key, list_keys, remove_key
from serving.errors import Forbidden, NotAuthenticated


def test_keys_are_stored_hashed_salted_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = add_key(path, "crm", "router")
    second = add_key(path, "lead-anna", "lead")
    text = path.read_text(encoding="utf-8")
    assert first not in text and second not in text
    entries = json.loads(text)["keys"]
    assert entries[0]["sha256"] == hash_key(first, entries[0]["salt"])
    assert entries[0]["salt"] != entries[1]["salt"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [(k.name, k.role) for k in list_keys(path)] == [("crm", "router"), ("lead-anna", "lead")]
    with pytest.raises(ConfigError, match="exists already"):
        add_key(path, "crm", "admin")
    with pytest.raises(ConfigError, match="role must be one of"):
        add_key(path, "x", "superuser")
    remove_key(path, "crm")
    with pytest.raises(ConfigError, match="no key named"):
        remove_key(path, "crm")


def test_key_store_authenticates_authorizes_and_rereads(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    store = KeyStore(path)
    with pytest.raises(NotAuthenticated):
        store.authenticate("pr_anything")
    router = add_key(path, "crm", "router")
    assert store.authenticate(router).name == "crm"
    assert store.authorize(router, "router").role == "router"
    with pytest.raises(Forbidden, match="needs the admin role"):
        store.authorize(router, "admin")
    with pytest.raises(NotAuthenticated, match="required"):
        store.authenticate(None)
    with pytest.raises(NotAuthenticated, match="not valid"):
        store.authenticate(router + "x")
    assert grants("admin", "router") and grants("admin", "lead") and not grants("lead", "router")
    path.write_text("{broken", encoding="utf-8")
    with pytest.raises(NotAuthenticated, match="cannot read its API keys"):
        store.authenticate(router)


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """test root"""

    serving_cli.register(CliRoots(app=root, bench=typer.Typer()))
    return root


def test_keys_commands(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    added = CliRunner().invoke(app, ["keys", "add", "crm-router", "--role", "router", "--file", str(path)])
    assert added.exit_code == 0, added.output
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("pr_") and KeyStore(path).authenticate(key).name == "crm-router"
    listed = CliRunner().invoke(app, ["keys", "list", "--file", str(path)])
    assert "crm-router" in listed.output and key not in listed.output
    bad = CliRunner().invoke(app, ["keys", "add", "x", "--role", "root", "--file", str(path)])
    assert bad.exit_code == 1 and "role must be one of" in bad.output
    assert CliRunner().invoke(app, ["keys", "remove", "crm-router", "--file", str(path)]).exit_code == 0


def test_adding_and_revoking_a_key_is_in_the_audit_log(
    app: typer.Typer, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "keys.json"
    args = ["--file", str(path), "--by", "security-officer"]
    added = CliRunner().invoke(app, ["keys", "add", "ops", "--role", "admin", *args])
    key = added.stdout.strip().splitlines()[-1]
    assert CliRunner().invoke(app, ["keys", "remove", "ops", *args]).exit_code == 0
    with sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.kind, e.subject, e.actor, e.payload["role"]) for e in events] == [
        ("keys.added", "ops", "security-officer", "admin"),
        ("keys.removed", "ops", "security-officer", "admin"),
    ]
    assert all(key not in json.dumps(e.payload) for e in events)


def test_a_key_added_without_a_store_says_the_audit_log_missed_it(app: typer.Typer, tmp_path: Path) -> None:
    added = CliRunner().invoke(app, ["keys", "add", "ops", "--role", "admin", "--file", str(tmp_path / "k")])
    assert added.exit_code == 0 and added.stdout.strip().startswith("pr_")  # the key stands
    assert "note: the audit log did not record it" in added.stderr and "run `postroom init`" in added.stderr


def test_serve_on_a_port_in_use_is_one_line_before_any_model_loads(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("POSTROOM_SERVE_PORT", "8000")  # serve writes its options there: undone after the test
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"port {port} on 127.0.0.1 is in use (another `postroom serve`?)" in result.output
    assert "serving on" not in result.output and "Traceback" not in result.output


def test_serving_never_loads_torch() -> None:
    code = (
        "import sys, serving.app, serving.cli, serving.bench, serving.demo;"
        "serving.app.create_app;"
        "heavy = sorted(m for m in ('torch', 'setfit', 'sentence_transformers', 'transformers', 'optimum')"
        " if m in sys.modules); print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"serving loaded {result.stdout.strip()}"


RACER = """
import sys, time
from pathlib import Path
from serving.auth import add_key, remove_key
path, worker, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
if worker == "remover":
    remove_key(path, "victim")
else:
    for n in range(4):
        add_key(path, f"{worker}-{n}", "router")
"""


def test_concurrent_adds_and_a_remove_from_separate_processes_lose_no_write(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    add_key(path, "victim", "router")
    start = time.time() + 3  # every process imported and waiting when the race starts
    workers = [f"w{n}" for n in range(10)]
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(path), worker, str(start)], stderr=subprocess.PIPE)
        for worker in [*workers, "remover"]
    ]
    for racer in racers:
        _, stderr = racer.communicate(timeout=120)
        assert racer.returncode == 0, stderr.decode()
    names = {k.name for k in list_keys(path)}
    assert names == {f"{w}-{n}" for w in workers for n in range(4)}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("[red]x[/red]", "'[' is not allowed"),
        ("a\nb", "control character"),
        ("tab\there", "control character"),
        ("", "needs a name"),
        ("  ", "' ' is not allowed"),
        ("crm router", "' ' is not allowed"),
        ("-dash", "start with a letter or digit"),
        ("é-lead", "'é' is not allowed"),
        ("x" * 65, "at most 64 characters"),
    ],
)
def test_odd_key_names_are_refused_with_the_reason(tmp_path: Path, name: str, problem: str) -> None:
    path = tmp_path / "keys.json"
    with pytest.raises(ConfigError, match=re.escape(problem)):
        add_key(path, name, "router")
    assert not path.exists()


def test_key_names_of_letters_digits_and_dot_underscore_at_dash_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    for name in ("crm-router", "lena@bank.example", "svc_2.prod", "x" * 64, "7"):
        add_key(path, name, "router")
    assert len(list_keys(path)) == 5


def test_keys_cli_never_interprets_markup_in_names(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    refused = CliRunner().invoke(app, ["keys", "add", "[red]x[/red]", "--file", str(path)])
    assert refused.exit_code == 1 and "'[red]x[/red]'" in refused.output and "Traceback" not in refused.output
    newline = CliRunner().invoke(app, ["keys", "add", "a\nb", "--file", str(path)])
    assert newline.exit_code == 1 and "control character" in newline.output
    assert len(newline.output.strip().splitlines()) == 1
    # A file written by hand or by an older version may hold any name: shown as it is, never as markup.
    _write_keys(path, [{**_entry("[bold]lena[/bold]"), "role": "lead"}, _entry("two\nlines")])
    listed = CliRunner().invoke(app, ["keys", "list", "--file", str(path)])
    assert listed.exit_code == 0 and "[bold]lena[/bold]" in listed.output and "two\\nlines" in listed.output
    removed = CliRunner().invoke(app, ["keys", "remove", "[bold]lena[/bold]", "--file", str(path)])
    assert removed.exit_code == 0 and "removed key '[bold]lena[/bold]'" in removed.output
    added = CliRunner().invoke(app, ["keys", "add", "lena@bank.example", "--file", str(path)])
    assert added.exit_code == 0 and "added key 'lena@bank.example'" in added.output


def _entry(name: str) -> dict[str, str]:
    return {"name": name, "role": "router", "salt": "00" * 16, "sha256": "0" * 64, "created_at": ""}


def _write_keys(path: Path, entries: object) -> None:
    path.write_text(json.dumps({"keys": entries}), encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[]", "not a JSON object"),
        ('{"keys": {"a": 1}}', '"keys" is not a list'),
        ("{broken", "not valid JSON"),
        (json.dumps({"keys": [_entry("a"), "b"]}), "entry 2 is not a JSON object"),
        (
            json.dumps({"keys": [_entry("a"), _entry("b"), {"name": "c", "salt": "00", "sha256": "0"}]}),
            "entry 3 has no role",
        ),
        (json.dumps({"keys": [{**_entry("a"), "colour": "red"}]}), "entry 1 has an unknown field 'colour'"),
        (json.dumps({"keys": [{**_entry("a"), "name": 7}]}), "entry 1: name is not a string"),
        (json.dumps({"keys": [{**_entry("a"), "salt": "zz"}]}), "entry 1 ('a'): salt is not hexadecimal"),
        (json.dumps({"keys": [{**_entry("a"), "role": "root"}]}), "key 'a' has unknown role 'root'"),
    ],
)
def test_a_malformed_keys_file_says_what_is_wrong(
    app: typer.Typer, tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(problem)):
        list_keys(path)
    listed = CliRunner().invoke(app, ["keys", "list", "--file", str(path)])
    assert listed.exit_code == 1 and problem in listed.output
    assert "AttributeError" not in listed.output and "TypeError" not in listed.output
