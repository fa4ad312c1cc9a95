"""`compose.yaml`: the service it starts is one this code can run, on the settings it reads.

No Docker daemon or compose plugin runs here, so the file is checked against the code: every `POSTROOM_*`
variable is a setting, every command parses as a `postroom` command line, the services share the store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from postroom.cli import app, register_components
from postroom.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
register_components()  # `serve` and the other components' commands, as `postroom` itself does


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def _parses(command: list[str]) -> None:
    """Fail unless `command` is a valid `postroom` command line: its options parsed and converted, as
    `postroom` would before running it (nothing runs)."""
    group = typer.main.get_command(app)
    name, *args = command
    sub = group.commands.get(name)  # type: ignore[attr-defined]
    assert sub is not None, f"postroom has no command {name!r}"
    try:
        sub.make_context(name, list(args))
    except Exception as exc:  # click's usage errors (typer ships its own click)
        raise AssertionError(f"postroom {' '.join(command)}: {exc}") from None


def _interpolated(value: Any) -> str:
    """A compose value as the container sees it: `${X:-default}` its default, `${X:?msg}` or `${X}` a value
    the operator sets (here a made-up one)."""
    text = str(value)
    text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)
    return re.sub(r"\$\{[A-Z_]+(:\?[^}]*)?\}", "set-by-the-operator", text)


def test_every_postroom_variable_is_a_setting_that_validates(services: dict[str, Any]) -> None:
    """Unknown `POSTROOM_*` names would be refused at start (`extra="forbid"`); so would a bad URL, or the
    Doccano dev password off loopback."""
    known = {f"POSTROOM_{name.upper()}" for name in Settings.model_fields}
    for name in ("postroom", "serve"):
        env = services[name]["environment"]
        assert set(env) <= known, f"{name}: {sorted(set(env) - known)} are not settings"
        Settings(**{key.removeprefix("POSTROOM_").lower(): _interpolated(v) for key, v in env.items()})
    cli = services["postroom"]["environment"]
    doccano = services["doccano"]["environment"]  # the account Postroom acts as is the one Doccano creates
    assert cli["POSTROOM_DOCCANO_URL"] == f"http://doccano:{doccano['PORT']}"
    assert cli["POSTROOM_DOCCANO_USER"] == doccano["ADMIN_USERNAME"]
    assert cli["POSTROOM_DOCCANO_PASSWORD"] == doccano["ADMIN_PASSWORD"]


def test_the_doccano_service_is_the_one_docs_labeling_shows(services: dict[str, Any]) -> None:
    text = (ROOT / "docs" / "labeling.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(  doccano:\n.*?)```", text, re.S)
    assert block is not None, "docs/labeling.md shows no doccano service"
    assert yaml.safe_load(block.group(1))["doccano"] == services["doccano"]


def test_the_serve_service_runs_postroom_serve_on_the_shared_store(services: dict[str, Any]) -> None:
    cli, serve = services["postroom"], services["serve"]
    assert serve["command"][0] == "serve"
    _parses(serve["command"])
    _parses(cli["command"])
    for key in ("POSTROOM_DATABASE_URL", "POSTROOM_DATA_DIR"):  # what `postroom models promote` writes to
        assert serve["environment"][key] == cli["environment"][key]
    assert serve["volumes"] == cli["volumes"]
    assert serve["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert serve["environment"]["POSTROOM_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_serve_service_is_reachable_only_where_published(services: dict[str, Any]) -> None:
    serve = services["serve"]
    given = serve["environment"]
    env = Settings(serve_host=given["POSTROOM_SERVE_HOST"], serve_port=given["POSTROOM_SERVE_PORT"])
    assert env.serve_host == "0.0.0.0"  # inside the container: Docker publishes the port
    published = [p.rsplit(":", 2) for p in serve["ports"]]
    assert published == [["127.0.0.1", str(env.serve_port), str(env.serve_port)]]
    health = " ".join(serve["healthcheck"]["test"])
    assert f"http://127.0.0.1:{env.serve_port}/healthz" in health


def test_a_bad_command_would_be_caught() -> None:
    for bad in (["serve", "--hots", "0.0.0.0"], ["serve", "--port", "http"], ["server"]):
        with pytest.raises(AssertionError, match="postroom"):
            _parses(bad)


def test_the_image_runs_as_a_user_that_is_not_root(services: dict[str, Any]) -> None:
    """The service parses client mail: the image's last USER is not root, owns /data, and the compose
    services drop every capability (no Docker here to run it: the files are read)."""
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any("chown postroom:postroom /data" in line for line in lines)
    for name in ("postroom", "serve"):
        assert services[name]["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in services[name]["security_opt"]
