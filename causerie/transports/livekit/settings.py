"""LiveKit and worker settings: pydantic-settings models (``LIVEKIT_*``,
``CAUSERIE_WORKER_*``) built from :class:`causerie.config.sources.Layers`, with the one
precedence of every setting: command-line options > environment > ``.env`` > defaults (they
have no agent.yaml section: they belong to the process, not to an agent).

The CLI passes its layers (or ``LoadedConfig.env``, ``.env`` under the process environment);
the server passes ``os.environ``. Nothing reads ``os.environ`` behind the caller's back, so
a test's mapping is the whole truth. Every error names the option or variable to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ...config.sources import Layers
from ...errors import CauserieError, ConfigError

REQUIRED_VARS = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
NAME_PATTERN = r"^[A-Za-z0-9_.-]*$"


class LiveKitNotConfigured(ConfigError):
    """Some ``LIVEKIT_*`` variables are missing (exit 2)."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"LiveKit is not configured: set {', '.join(missing)} "
            "(in the environment or .env; see docs/DEPLOY.md)"
        )


class LiveKitUnreachable(CauserieError):
    """The LiveKit server did not answer (exit 1): names the URL, never the credentials."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"could not connect to the LiveKit server at {url}: {reason}; is it running, and are "
            "LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET right?"
        )


class EnvSettings(BaseSettings):
    """Base of the process settings read from ``<env_prefix><FIELD>`` variables."""

    # Values stay strings (no JSON decoding): a list is comma-separated, split by its field.
    model_config = SettingsConfigDict(extra="forbid", frozen=True, enable_decoding=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built directly, the values given and the defaults only: the environment comes in
        through :meth:`from_env` / :meth:`from_layers`, never behind the caller's back."""
        return (init_settings,)

    @classmethod
    def env_var(cls, name: str) -> str:
        return str(cls.model_config.get("env_prefix") or "") + name.upper()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """``env`` (default: the process environment) under ``overrides`` (CLI options; None
        means not given). Empty variables count as unset."""
        return cls.from_layers(Layers.read(env, dotenv=None), **overrides)

    @classmethod
    def from_layers(cls, layers: Layers, **overrides: Any) -> Self:
        """The environment, then ``.env``, under ``overrides``."""
        return layers.build(cls, overrides)


@dataclass(frozen=True)
class Credentials:
    """What it takes to talk to one LiveKit server. The secret never reaches a repr or a log."""

    url: str
    api_key: str
    api_secret: SecretStr = field(repr=False)

    @property
    def secret(self) -> str:
        return self.api_secret.get_secret_value()


class LiveKitSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="LIVEKIT_")

    url: str | None = Field(
        default=None, description="ws(s):// or http(s):// URL of the LiveKit server."
    )
    api_key: str | None = None
    api_secret: SecretStr | None = None
    agent_name: str = Field(
        default="causerie",
        max_length=64,
        pattern=NAME_PATTERN,
        description="The worker's name for explicit dispatch (tokens, `join`, `call` ask for it).",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and (
            urlparse(v).scheme not in ("ws", "wss", "http", "https") or not urlparse(v).netloc
        ):
            raise ValueError(
                "must be a ws://, wss://, http:// or https:// URL, e.g. ws://localhost:7880"
            )
        return v

    def missing(self) -> list[str]:
        values = (self.url, self.api_key, self.api_secret)
        return [var for var, value in zip(REQUIRED_VARS, values, strict=True) if not value]

    def require(self) -> Credentials:
        missing = self.missing()
        if missing:
            raise LiveKitNotConfigured(missing)
        assert self.url and self.api_key and self.api_secret
        return Credentials(self.url, self.api_key, self.api_secret)


class WorkerSettings(EnvSettings):
    """``causerie worker`` settings (``CAUSERIE_WORKER_*``)."""

    model_config = SettingsConfigDict(env_prefix="CAUSERIE_WORKER_")

    dispatch: Literal["explicit", "automatic"] = Field(
        default="explicit",
        description="explicit: rooms that ask for LIVEKIT_AGENT_NAME; automatic: every new room.",
    )
    load_threshold: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Above this load the worker takes no new job (LiveKit dispatches elsewhere).",
    )
    max_jobs: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="When set, load = active jobs / max_jobs instead of CPU use.",
    )
    drain_timeout: int = Field(
        default=600,
        ge=0,
        le=86400,
        description="Seconds SIGTERM waits for running conversations to end (0: no limit).",
    )
    health_host: str = Field(default="0.0.0.0", description="Interface of the health endpoint.")
    health_port: int = Field(default=8081, ge=0, le=65535, description="0: any free port.")
    idle_processes: int = Field(
        default=1, ge=0, le=32, description="Job processes kept warm, models loaded (prewarm)."
    )
    executor: Literal["process", "thread"] = Field(
        default="process",
        description="process: one process per job (isolation); thread: one process.",
    )
    prewarm_timeout: float = Field(
        default=120.0, gt=0, description="Seconds a job process may take to load models."
    )
    max_retry: int = Field(
        default=16, ge=0, le=1000, description="Reconnections to LiveKit before giving up."
    )
