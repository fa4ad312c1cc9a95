"""`postroom classify-heldout` when things go wrong: bad options, a refused key, a service that is not there,
a model that cannot load. Each is one line that says why, never a traceback; real uvicorn on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postroom.cli import app, register_components
from postroom.errors import PostroomError
from postroom.settings import get_settings
from postroom.store import create_store_engine, migrate
from serving.demo import classify_heldout
from serving.loopback import free_port, running_service
from tests.serving.builders import Exported, isolated

runner = CliRunner()
register_components()


def _one_line_error(output: str, *expected: str) -> None:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], output


@pytest.mark.parametrize("limit", ["-3", "0"])
def test_limit_below_one_is_refused(limit: str) -> None:
    result = runner.invoke(app, ["classify-heldout", "--limit", limit])
    assert result.exit_code == 2 and "Invalid value for '--limit'" in result.output
    assert "greater than or equal to 1" in result.output


def test_limit_below_one_is_refused_by_the_library_too(serving_env: dict[str, str]) -> None:
    with pytest.raises(PostroomError, match="--limit must be at least 1, got 0"):
        classify_heldout(get_settings(), None, "production", None, None, 0, log=print)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["notaurl", "localhost:8000", "ftp://host", "http://", "http://host:99999"])
def test_a_url_that_is_no_http_url_is_one_line(url: str) -> None:
    result = runner.invoke(app, ["classify-heldout", "--url", url, "--key", "pr_x"])
    assert result.exit_code == 1
    _one_line_error(result.output, "--url must be the service's http:// or https:// URL", repr(url))


def test_refused_keys_failed_requests_and_no_service_say_why(
    serving_env: dict[str, str], shared: Exported, stored: list[str], tmp_path: Path
) -> None:
    service_store = f"sqlite:///{tmp_path / 'service.db'}"  # another store: the messages are not there
    engine = create_store_engine(service_store)
    migrate(engine)
    engine.dispose()
    env = {
        "POSTROOM_DATABASE_URL": service_store,
        "POSTROOM_MODELS_DIR": str(shared.registry_dir),
        "POSTROOM_API_KEYS_FILE": str(tmp_path / "api-keys.json"),
        "POSTROOM_SERVE_WATCH_SECONDS": "0",
        "POSTROOM_SERVE_THREADS": "1",
    }
    with running_service(env) as service:

        def classify(key: str, *more: str) -> tuple[int, str]:
            result = runner.invoke(app, ["classify-heldout", "--url", f"{service.url}/", "--key", key, *more])
            return result.exit_code, result.output

        code, output = classify("bogus")
        assert code == 1
        _one_line_error(output, service.url, "refused the key", "HTTP 401 NotAuthenticated", "not valid")
        code, output = classify(serving_env["lead"])
        assert code == 1
        _one_line_error(output, "HTTP 403 Forbidden", "needs the router role", "'test-lead' has role lead")
        # The messages are not in the service's store: each request fails, and the first ones say why.
        code, output = classify(serving_env["router"], "--limit", "7")
        assert code == 1 and "0 classified, 7 errors" in output and "Traceback" not in output
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(errors) == 5 and "… and 2 more errors" in output
        assert errors[0].startswith("error: msg-000@example.org: HTTP 404 MessageNotFound: ")
    gone = runner.invoke(app, ["classify-heldout", "--url", service.url, "--key", serving_env["router"]])
    assert gone.exit_code == 1
    _one_line_error(gone.output, f"cannot reach the service at {service.url}", "Connection refused")
    nobody = f"http://127.0.0.1:{free_port()}"
    refused = runner.invoke(app, ["classify-heldout", "--url", nobody, "--key", serving_env["router"]])
    assert refused.exit_code == 1
    _one_line_error(refused.output, f"cannot reach the service at {nobody}", "is it running?")


def test_a_model_that_cannot_load_fails_at_once_with_the_reason(
    serving_env: dict[str, str], stored: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = isolated(tmp_path)
    for graph in exported.export_dir.rglob("*.onnx"):
        graph.unlink()  # a symlink into the shared export: replace it, never write through it
        graph.write_bytes(b"not a graph")
    monkeypatch.setenv("POSTROOM_MODELS_DIR", str(exported.registry_dir))
    get_settings.cache_clear()
    started = time.monotonic()
    result = runner.invoke(app, ["classify-heldout"])
    assert result.exit_code == 1
    _one_line_error(result.output, "cannot serve: no model loaded", "does not match its checksum")
    assert time.monotonic() - started < 90  # not the 180 s it waits for a service that is still starting


def test_a_service_serving_another_version_is_refused_before_any_request(
    serving_env: dict[str, str], shared: Exported, stored: list[str], tmp_path: Path
) -> None:
    """The held-out IDs and calibration exclusions are the asked version's: figures of whatever the service
    runs (not yet reloaded after a promotion) must not be reported under its name."""
    import json
    import shutil

    other = tmp_path / "v0009"
    shutil.copytree(shared.export_dir, other)
    manifest = json.loads((other / "export.json").read_text(encoding="utf-8"))
    (other / "export.json").write_text(json.dumps({**manifest, "version": "v0009"}), encoding="utf-8")
    env = {
        "POSTROOM_MODELS_DIR": str(shared.registry_dir),
        "POSTROOM_SERVE_MODEL": str(other),
        "POSTROOM_API_KEYS_FILE": str(Path(get_settings().keys_path)),
        "POSTROOM_SERVE_WATCH_SECONDS": "0",
        "POSTROOM_SERVE_THREADS": "1",
    }
    with running_service(env) as service:
        args = ["classify-heldout", "--url", service.url, "--key", serving_env["router"]]
        result = runner.invoke(app, args)
    assert result.exit_code == 1
    _one_line_error(result.output, f"serves v0009, not {shared.version}", "reload the service")
    assert "classified" not in result.output
