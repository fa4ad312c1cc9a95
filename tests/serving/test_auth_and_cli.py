"""API keys (hashed, salted, roles) and the serving commands that need no server."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from postroom.clikit import CliRoots
from postroom.errors import ConfigError
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


def test_serving_never_loads_torch() -> None:
    code = (
        "import sys, serving.app, serving.cli, serving.bench, serving.demo;"
        "serving.app.create_app;"
        "heavy = sorted(m for m in ('torch', 'setfit', 'sentence_transformers', 'transformers', 'optimum')"
        " if m in sys.modules); print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"serving loaded {result.stdout.strip()}"
