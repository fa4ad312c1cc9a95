"""Labeling settings, read from `POSTROOM_*` environment variables.

Until the core `postroom.settings.Settings` has these fields, they live here (same prefix, unknown variables
ignored). Once the core has a field, its value wins: `get_labeling_settings()` takes it from there, so a
config file works too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from postroom.errors import ConfigError
from postroom.settings import get_settings

DEV_USER = "postroom"
DEV_PASSWORD = "dev-only-postroom-password"  # the dev default of scripts/doccano/start.sh; not a secret
DEV_SIM_PASSWORD = "dev-only-simulated-expert"  # the demo's simulated expert; loopback only
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class LabelingSettings(BaseSettings):
    """Where Doccano is, who Postroom is there, and how many labels per class training needs."""

    model_config = SettingsConfigDict(env_prefix="POSTROOM_", extra="ignore")

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
    labeling_target_per_class: int = Field(8, ge=1, description="Labels per class needed to train (N).")
    labeling_sources: tuple[str, ...] = Field(
        ("doccano", "feedback", "api", "import"),
        description="Label sources that count as labeled (status, selection).",
    )
    labeling_max_chars: int = Field(20_000, ge=100, description="Longest text sent to Doccano.")

    @model_validator(mode="after")
    def _no_dev_credentials_off_loopback(self) -> LabelingSettings:
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

    def project_name(self, taxonomy_name: str) -> str:
        return self.doccano_project or f"postroom-{taxonomy_name}"


def get_labeling_settings() -> LabelingSettings:
    """The labeling settings: fields the core `Settings` has come from it, the rest from the environment."""
    core = get_settings()
    inherited = {
        name: getattr(core, name) for name in LabelingSettings.model_fields if name in type(core).model_fields
    }
    try:
        return LabelingSettings(**inherited)
    except ValueError as exc:
        raise ConfigError(f"invalid labeling settings: {exc}") from exc
