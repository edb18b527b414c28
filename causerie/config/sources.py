"""Where every setting comes from, with one precedence (docs/CONFIG.md):

    command line  >  environment  >  .env  >  agent.yaml  >  defaults

Each settings model is a pydantic-settings ``BaseSettings``: the agent (:class:`AgentSettings`),
the server (``CAUSERIE_*``), LiveKit (``LIVEKIT_*``), the worker (``CAUSERIE_WORKER_*``) and
the token endpoint (``CAUSERIE_TOKEN_*``). :meth:`Layers.build` gives any of them the same
sources, in that order: the values given on the command line, the process environment, the
``.env`` file, then the agent.yaml data. Nothing here reads ``os.environ`` behind the caller's
back: a test's mapping is the whole truth.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ..errors import ConfigError
from .spec import PROVIDER_KINDS, AgentSpec, as_chain

S = TypeVar("S", bound=BaseSettings)

# The original design's variables -> dotted path in the agent spec.
ENV_OVERRIDES: dict[str, str] = {
    "AGENT_NAME": "name",
    "AGENT_INSTRUCTIONS": "instructions",
    "AGENT_LANGUAGE": "language",
    "LLM_PROVIDER": "llm.provider",
    "LLM_MODEL": "llm.model",
    "LLM_BASE_URL": "llm.base_url",
    "STT_PROVIDER": "stt.provider",
    "STT_MODEL": "stt.model",
    "TTS_PROVIDER": "tts.provider",
    "TTS_MODEL": "tts.model",
    "TTS_VOICE_ID": "tts.voice",
    "ENABLED_PLUGINS": "plugins",
    "MIN_ENDPOINTING_DELAY": "turn.min_endpointing_delay",
    "MAX_ENDPOINTING_DELAY": "turn.max_endpointing_delay",
    "TURN_DETECTION": "turn.detection",
    "ENABLE_BARGE_IN": "turn.interruptions",
    "MAX_TOOL_STEPS": "turn.max_tool_steps",
    "MAX_RESPONSE_TIME": "turn.max_response_time",
    "ENABLE_METRICS": "metrics.enabled",
    # REDIS_URL first: an explicit CAUSERIE_STORE_URL of the same layer, read after it, wins.
    "REDIS_URL": "metrics.store_url",
    "CAUSERIE_STORE_URL": "metrics.store_url",
    "CAUSERIE_STORE_TRANSCRIPTS": "metrics.transcripts",
    "CAUSERIE_STORE_RETENTION_DAYS": "metrics.retention_days",
    "CAUSERIE_STORE_MAX_SESSIONS": "metrics.max_sessions",
}
_LIST_FIELDS = {"plugins", "tools"}


class AgentSettings(BaseSettings, AgentSpec):
    """The agent definition as settings: :class:`AgentSpec`'s fields, filled from the layers
    (``ENV_OVERRIDES`` name its variables). :func:`causerie.config.loader.load_config` builds
    it and hands on a plain :class:`AgentSpec`."""

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)


@dataclass(frozen=True)
class Layers:
    """The environment layers of one process: its environment and its ``.env`` file."""

    environ: Mapping[str, str] = field(default_factory=dict)
    dotenv: Mapping[str, str] = field(default_factory=dict)
    dotenv_path: str = ".env"

    @classmethod
    def read(
        cls, environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env"
    ) -> Layers:
        """``environ`` (default: the process environment) and the ``dotenv`` file if any."""
        values: dict[str, str] = {}
        if dotenv and Path(dotenv).exists():
            values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
        process = dict(os.environ if environ is None else environ)
        return cls(process, values, str(dotenv or ".env"))

    @property
    def env(self) -> dict[str, str]:
        """``.env`` under the environment: what provider keys and ``${VAR}`` are read from."""
        return {**self.dotenv, **self.environ}

    def origin(self, var: str) -> str:
        return "environment" if var in self.environ else self.dotenv_path

    def build(
        self,
        cls: type[S],
        cli: Mapping[str, Any] | None = None,
        yaml: Mapping[str, Any] | None = None,
    ) -> S:
        """``cls`` from these layers under ``cli`` (options given on the command line; None
        means not given) and over ``yaml``. A bad value raises :class:`ConfigError` naming
        the option or the variable it came from."""
        given = {k: v for k, v in (cli or {}).items() if v is not None}
        sources = (
            InitSettingsSource(cls, init_kwargs=given),
            MappingEnvSource(cls, self.environ),
            MappingEnvSource(cls, self.dotenv),
            YamlSource(cls, dict(yaml or {})),
        )
        try:
            return cls(_build_sources=(sources, given))
        except ValidationError as e:
            raise ConfigError(self.explain(cls, e, given)) from None
        except SettingsError as e:  # a value the source could not parse
            raise ConfigError(f"{e} ({e.__cause__})") from None

    def explain(self, cls: type[BaseSettings], err: ValidationError, cli: Mapping[str, Any]) -> str:
        lines = []
        prefix = str(cls.model_config.get("env_prefix") or "")
        for e in err.errors():
            name = str(e["loc"][0]) if e["loc"] else "?"
            var = f"{prefix}{name}".upper()
            if name in cli:
                where = f"--{name.replace('_', '-')}"
            elif var in self.environ or var in self.dotenv:
                where = var + ("" if var in self.environ else f" [from {self.dotenv_path}]")
            else:
                where = name
            lines.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
        return "\n".join(lines)


class MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (the process environment or
    the ``.env`` values): ``<env_prefix><FIELD>``, case-insensitive, empty counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = {k: v.strip() for k, v in environ.items()}
        super().__init__(settings_cls, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if issubclass(self.settings_cls, AgentSpec):
            return {}  # the agent's variables have their own names (AliasEnvSource)
        return {k.lower(): v for k, v in self._environ.items() if v}


class AliasEnvSource(PydanticBaseSettingsSource):
    """The agent's variables (:data:`ENV_OVERRIDES`) from one layer, as nested values; notes
    in ``sources`` where each field came from, unless a higher layer set it already."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        environ: Mapping[str, str],
        label: str,
        sources: dict[str, str],
    ) -> None:
        super().__init__(settings_cls)
        self.environ, self.label, self.sources = environ, label, sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ maps the variables itself

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for var, dotted in ENV_OVERRIDES.items():
            raw = (self.environ.get(var) or "").strip()
            if not raw:
                continue
            value: Any = raw  # pydantic coerces "0.3", "true", "1"
            if dotted in _LIST_FIELDS:
                value = [s.strip() for s in raw.split(",") if s.strip()]
            set_path(data, dotted, value)
            self.sources.setdefault(dotted, f"{self.label} ({var})")
        return data


class YamlSource(PydanticBaseSettingsSource):
    """The agent.yaml data, the lowest layer above the defaults. Where a higher layer chose
    another provider for a stage, the file's model, voice and options for it are dropped
    (they belong to the other vendor) and its fallbacks kept; where one gave
    ``instructions``, the file's ``instructions_file`` is dropped."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        data = dict(self.data)
        above = self.current_state
        for stage in PROVIDER_KINDS:
            if isinstance(data.get(stage), list) and data[stage]:
                data[stage] = as_chain(data[stage])
            mine, theirs = data.get(stage), above.get(stage)
            if not (isinstance(mine, dict) and isinstance(theirs, dict)):
                continue
            chosen = str(theirs.get("provider", "")).lower()
            if chosen and chosen != str(mine.get("provider", "")).lower():
                data[stage] = {"fallbacks": mine["fallbacks"]} if mine.get("fallbacks") else {}
        if "instructions" in above:
            data.pop("instructions_file", None)
        return data


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def agent_settings(
    layers: Layers, yaml: dict[str, Any], cli: Mapping[str, Any], sources: dict[str, str]
) -> AgentSettings:
    """The agent's settings from every layer; ``sources`` gets where each field came from.
    A :class:`ValidationError` is the caller's to explain (it knows the file)."""
    nested: dict[str, Any] = {}
    for dotted, value in cli.items():
        set_path(nested, dotted, value)
        sources[dotted] = "command line"
    chain = (
        InitSettingsSource(AgentSettings, init_kwargs=nested),
        AliasEnvSource(AgentSettings, layers.environ, "environment", sources),
        AliasEnvSource(AgentSettings, layers.dotenv, layers.dotenv_path, sources),
        YamlSource(AgentSettings, yaml),
    )
    # mypy sees AgentSpec's fields as the signature, not BaseSettings' own keywords.
    return AgentSettings(_build_sources=(chain, nested))  # type: ignore[call-arg]
