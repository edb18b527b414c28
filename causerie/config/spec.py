"""The typed agent definition: what ``agent.yaml`` may contain.

Unknown fields are refused (``extra="forbid"``) so a typo is an error, not a silent default.
Provider names are checked against the registry in :mod:`causerie.config.loader`, because the
set of providers depends on what is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .api_tools import ApiToolSpec

ProviderKind = Literal["stt", "llm", "tts", "vad"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("stt", "llm", "tts", "vad")

DEFAULT_INSTRUCTIONS = (
    "You are Causerie, a friendly voice assistant. Answer briefly, in one or two short "
    "sentences, because everything you say is spoken aloud."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ProviderSpec(_Strict):
    """One pipeline stage: ``{provider, model, voice, options...}``."""

    provider: str = Field(min_length=1)
    model: str | None = None
    voice: str | None = None
    language: str | None = Field(
        default=None, description="Overrides the agent's language for this stage."
    )
    base_url: str | None = Field(
        default=None, description="For OpenAI-compatible servers (Ollama, vLLM, llama.cpp)."
    )
    api_key: SecretStr | None = Field(
        default=None, description="Prefer the provider's environment variable."
    )
    options: dict[str, Any] = Field(default_factory=dict)
    fallbacks: list[ProviderSpec] = Field(
        default_factory=list,
        description="Providers that take over, in order, when this one fails or times out. "
        "In agent.yaml, write the stage as a list instead: `llm: [{provider: a}, {provider: b}]`.",
    )

    @field_validator("provider")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    @field_validator("fallbacks")
    @classmethod
    def _flat(cls, v: list[ProviderSpec]) -> list[ProviderSpec]:
        if any(f.fallbacks for f in v):
            raise ValueError("a fallback cannot have fallbacks of its own: list them all")
        return v

    @property
    def label(self) -> str:
        """'openai/gpt-4o-mini', or 'scripted' with no model."""
        return f"{self.provider}/{self.model}" if self.model else self.provider


def as_chain(value: Any) -> Any:
    """``[a, b, c]`` (agent.yaml's list form) -> ``a`` with ``fallbacks: [b, c]``."""
    if not isinstance(value, list):
        return value
    if not value:
        raise ValueError("an empty list: give at least one provider")
    first = value[0]
    if not isinstance(first, dict):
        return value  # pydantic then says what a provider must look like
    return {**first, "fallbacks": [*value[1:], *first.get("fallbacks", [])]}


class FallbackSpec(_Strict):
    """How a chain (a list of providers for ``stt``, ``llm`` or ``tts``) fails over."""

    timeout: float = Field(
        default=5.0,
        gt=0.0,
        le=60.0,
        description="Seconds one provider may take (an LLM: to answer; STT: to recognise) "
        "before the next in the chain takes over.",
    )


TurnDetection = Literal["vad", "lm", "turn_model"]


class TurnSpec(_Strict):
    """Turn-taking. Every value is pinned: livekit-agents' defaults assume LiveKit Cloud."""

    detection: TurnDetection = Field(
        default="vad",
        description="'vad': end of turn after a short silence (lowest latency); "
        "'lm': after a silence whose length depends on whether the words so far end a "
        "sentence (the recognizer's English language model); "
        "'turn_model': the bundled local turn model (v1-mini) decides.",
    )
    lm_threshold: float = Field(
        default=0.07,
        gt=0.0,
        lt=1.0,
        description="detection 'lm': below this chance that the sentence ends there, wait "
        "max_endpointing_delay instead of min_endpointing_delay.",
    )
    min_endpointing_delay: float = Field(default=0.2, ge=0.0, le=5.0)
    max_endpointing_delay: float = Field(
        default=3.0,
        ge=0.1,
        le=30.0,
        description="With detection 'lm' or 'turn_model': the wait after words that do not "
        "end a sentence (0.6 s suits 'lm').",
    )
    interruptions: bool = Field(
        default=True, description="Barge-in: the user may talk over the agent."
    )
    min_interruption_duration: float = Field(default=0.3, ge=0.05, le=5.0)
    max_tool_steps: int = Field(default=3, ge=0, le=20)
    max_response_time: float = Field(
        default=15.0, gt=0.0, le=300.0, description="Seconds the LLM may take for one reply."
    )

    @model_validator(mode="after")
    def _order(self) -> TurnSpec:
        if self.max_endpointing_delay < self.min_endpointing_delay:
            raise ValueError(
                "max_endpointing_delay must be >= min_endpointing_delay "
                f"(got {self.max_endpointing_delay} < {self.min_endpointing_delay})"
            )
        return self


class MetricsSpec(_Strict):
    """Recording of sessions, turns and transcripts (see docs/METRICS.md)."""

    enabled: bool = Field(default=True, description="Record every session and turn in the store.")
    store_url: str = Field(
        default="sqlite:///var/causerie.sqlite3",
        min_length=1,
        description="sqlite:///relative.db, sqlite:////absolute.db or redis://host:6379/0.",
    )
    transcripts: bool = Field(
        default=True, description="Keep what was said; false keeps metrics only (privacy)."
    )
    retention_days: float | None = Field(
        default=30.0, ge=0, description="Delete sessions older than this; null keeps them."
    )
    max_sessions: int | None = Field(
        default=100_000, ge=1, description="Keep at most this many sessions; null: no limit."
    )


class UiSpec(_Strict):
    """The talk page and dashboard (docs/THEMES.md)."""

    theme: str = Field(
        default="default",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="A folder themes/<name>/ next to agent.yaml, else a built-in theme "
        "(default, market).",
    )
    language: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$",
        description="The pages' language (en, fr); default: the agent's language.",
    )


class AgentSpec(_Strict):
    """The whole agent. See ``agent.yaml`` at the project root for a commented example."""

    name: str = Field(default="Causerie", min_length=1, max_length=64)
    instructions: str | None = None
    instructions_file: Path | None = None
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    greeting: str | None = Field(
        default=None, description="Said when a session starts; empty for none."
    )
    stt: ProviderSpec = Field(default_factory=lambda: ProviderSpec(provider="pocketsphinx"))
    llm: ProviderSpec = Field(default_factory=lambda: ProviderSpec(provider="scripted"))
    tts: ProviderSpec = Field(default_factory=lambda: ProviderSpec(provider="espeak"))
    vad: ProviderSpec = Field(default_factory=lambda: ProviderSpec(provider="silero"))
    turn: TurnSpec = Field(default_factory=TurnSpec)
    plugins: list[str] = Field(default_factory=list)
    plugin_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    tools: list[str] = Field(default_factory=list)
    tool_options: dict[str, Any] = Field(default_factory=dict)
    api_tools: list[ApiToolSpec] = Field(
        default_factory=list,
        description="Business tools backed by an HTTP API, also read from tools/*.yaml next to "
        "agent.yaml (docs/TOOLS.md, 'Declared tools'). Each one is enabled.",
    )
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    ui: UiSpec = Field(default_factory=UiSpec)
    fallback: FallbackSpec = Field(default_factory=FallbackSpec)

    @field_validator("stt", "llm", "tts", "vad", mode="before")
    @classmethod
    def _chains(cls, v: Any) -> Any:
        return as_chain(v)

    @model_validator(mode="after")
    def _chain_rules(self) -> AgentSpec:
        if self.vad.fallbacks:
            raise ValueError("vad: one provider only (a VAD has no fallback)")
        if self.llm.fallbacks and self.fallback.timeout >= self.turn.max_response_time:
            raise ValueError(
                f"fallback.timeout ({self.fallback.timeout:g} s) must be below "
                f"turn.max_response_time ({self.turn.max_response_time:g} s), or the next "
                "LLM in the chain never gets its turn"
            )
        return self

    @model_validator(mode="after")
    def _one_instructions(self) -> AgentSpec:
        if self.instructions is not None and self.instructions_file is not None:
            raise ValueError("give either instructions or instructions_file, not both")
        return self

    @model_validator(mode="after")
    def _api_tool_names(self) -> AgentSpec:
        # A clash with an installed app's tool depends on what is installed: the tools
        # registry refuses it when building, and `config check` reports it.
        seen: set[str] = set()
        for tool in self.api_tools:
            if tool.name in seen:
                raise ValueError(f"api_tools: two tools are named {tool.name!r}")
            seen.add(tool.name)
        return self

    @property
    def base_language(self) -> str:
        """'fr' for 'fr-FR'."""
        return self.language.split("-")[0]

    def provider(self, kind: ProviderKind) -> ProviderSpec:
        """The stage's provider: the first of its chain."""
        spec: ProviderSpec = getattr(self, kind)
        return spec

    def chain(self, kind: ProviderKind) -> list[ProviderSpec]:
        """Every provider of the stage, in the order they are tried (fallbacks cleared)."""
        first = self.provider(kind)
        return [first.model_copy(update={"fallbacks": []}), *first.fallbacks]

    def resolved_instructions(self, base_dir: Path | None = None) -> str:
        if self.instructions_file is not None:
            path = self.instructions_file
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            return path.read_text(encoding="utf-8").strip()
        return (self.instructions or DEFAULT_INSTRUCTIONS).strip()
