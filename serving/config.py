"""Settings of the HTTP service, read from `POSTROOM_*` environment variables.

The core `Settings` (data dir, database, taxonomy, registry) stays the one place for everything shared; these
fields only concern the service. They move into the core settings once the lead adds them there (see
docs/serving.md); until then set them in the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from postroom.errors import ConfigError

ProviderChoice = Literal["auto", "cpu", "cuda"]
VariantChoice = Literal["auto", "fp32", "optimized", "int8"]


class ServingSettings(BaseSettings):
    """The service's knobs. Every field is `POSTROOM_<FIELD>` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="POSTROOM_", extra="ignore", validate_default=True)

    serve_host: str = Field("127.0.0.1", description="Address uvicorn binds to.")
    serve_port: int = Field(8000, ge=1, le=65535)
    serve_workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes (one model each).")
    serve_model: str = Field(
        "production",
        description="What to load at start: `production`, a version (`v0003`), or an export directory.",
    )
    serve_variant: VariantChoice = Field(
        "auto", description="auto: the export's preference (optimized first on CPU and GPU; see export.json)."
    )
    serve_provider: ProviderChoice = Field("auto", description="auto: CUDA when available, CPU otherwise.")
    serve_threads: int = Field(
        0, ge=0, le=256, description="ONNX Runtime intra-op threads; 0 = one per core."
    )
    serve_max_batch: int = Field(32, ge=1, le=4096, description="Texts per model run (micro-batching).")
    serve_batch_max_ids: int = Field(64, ge=1, le=10_000, description="IDs per /v1/classify/batch request.")
    serve_max_request_bytes: int = Field(
        26 * 1024 * 1024, ge=1024, description="Largest request body; larger ones get 413."
    )
    serve_watch_seconds: float = Field(
        10.0, ge=0, description="Poll the registry for a new production version this often; 0 = never."
    )
    serve_metrics_public: bool = Field(True, description="Serve /metrics without an API key.")
    api_keys_file: Path | None = Field(
        None, description="JSON of hashed API keys; default data_dir/api-keys.json."
    )

    @field_validator("serve_model")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("serve_model must name `production`, a version or an export directory")
        return value.strip()

    def keys_path(self, data_dir: Path) -> Path:
        return self.api_keys_file or data_dir / "api-keys.json"


@lru_cache
def get_serving_settings() -> ServingSettings:
    """The process-wide serving settings (tests call `get_serving_settings.cache_clear()`)."""
    try:
        return ServingSettings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"invalid serving settings: {exc}") from exc
