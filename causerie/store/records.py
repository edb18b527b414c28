"""What Causerie records: one :class:`TurnRecord` per turn, one :class:`SessionRecord` per
session, one :class:`ErrorRecord` per provider or pipeline error.

Plain dataclasses, not pydantic models: a turn record is built on the voice path, and a
dataclass costs a few microseconds where validation would cost tens. Every record turns
into a JSON-safe dict with :meth:`to_dict` (carrying ``"v": RECORD_VERSION``) and back with
``from_dict``, which ignores keys it does not know so an older reader can read what a newer
worker wrote. Timestamps are epoch seconds (``time.time()``); durations are seconds.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict, TypeVar

logger = logging.getLogger(__name__)

RECORD_VERSION = 1
"""Bump when a field changes meaning; adding an optional field needs no bump."""

Transport = Literal["websocket", "webrtc", "livekit", "cli", "text"]
Outcome = Literal["active", "completed", "user_left", "error"]
OUTCOMES: tuple[Outcome, ...] = ("active", "completed", "user_left", "error")
Role = Literal["user", "assistant", "system", "tool"]

TURN_METRICS: tuple[str, ...] = (
    "stt_duration",
    "stt_final_delay",
    "end_of_utterance_delay",
    "llm_ttft",
    "llm_duration",
    "llm_prompt_tokens",
    "llm_completion_tokens",
    "tts_ttfb",
    "tts_duration",
    "voice_to_voice",
    "lk_e2e_latency",
)
"""The numeric per-turn fields that :func:`percentiles` can summarise."""

LATENCIES: tuple[str, ...] = tuple(f for f in TURN_METRICS if "tokens" not in f)
MAX_LATENCY_S = 600.0
"""A latency outside [0, this] comes from a clock that jumped (wall time is used by some
providers' figures), not from the pipeline: it is recorded as unknown (``None``)."""


def plausible_latency(value: float | None) -> float | None:
    """``value``, or None when it cannot be a latency (negative, NaN, over MAX_LATENCY_S)."""
    if value is None or not 0.0 <= value <= MAX_LATENCY_S:  # NaN fails the comparison too
        return None
    return value


_R = TypeVar("_R")


def _known(cls: type[_R], data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that ``cls`` has as fields (forward compatibility)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if k in names}


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: str = "{}"
    """The arguments as the LLM sent them: JSON text."""
    duration: float | None = None
    ok: bool = True
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": self.arguments,
            "duration": self.duration,
            "ok": self.ok,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        return cls(**_known(cls, data))


@dataclass(slots=True)
class TurnRecord:
    """One user turn and the agent's answer. Latencies are ``None`` when unknown."""

    session_id: str
    index: int
    started_at: float
    ended_at: float | None = None
    user_text: str | None = None
    agent_text: str | None = None
    stt_duration: float | None = None
    stt_final_delay: float | None = None
    """End of user speech -> final transcript."""
    end_of_utterance_delay: float | None = None
    llm_ttft: float | None = None
    llm_duration: float | None = None
    llm_prompt_tokens: int | None = None
    llm_completion_tokens: int | None = None
    tts_ttfb: float | None = None
    tts_duration: float | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    interrupted: bool = False
    voice_to_voice: float | None = None
    """Our figure: first non-silent output sample minus last non-silent input sample."""
    lk_e2e_latency: float | None = None
    """livekit-agents' own ``e2e_latency``; it under-reports (see DESIGN.md section 4)."""
    providers: dict[str, str] = field(default_factory=dict)
    """Stage -> the provider that served this turn ('llm': 'openai/gpt-4o-mini'), as its
    metrics named it; a stage without metrics is left out (the session's then applies)."""
    failovers: list[str] = field(default_factory=list)
    """Stages (of a fallback chain) served by a provider other than the chain's first."""
    error: str | None = None
    v: int = RECORD_VERSION

    def __post_init__(self) -> None:
        for name in LATENCIES:
            value = getattr(self, name)
            if value is not None and plausible_latency(value) is None:
                logger.warning("turn %s/%d: %s=%r is not a latency; dropped", self.session_id,
                               self.index, name, value)  # fmt: skip
                setattr(self, name, None)

    def to_dict(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in _TURN_SCALARS}
        d["tool_calls"] = [t.to_dict() for t in self.tool_calls]
        d["providers"] = dict(self.providers)
        d["failovers"] = list(self.failovers)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnRecord:
        d = _known(cls, data)
        d["tool_calls"] = [ToolCall.from_dict(t) for t in d.get("tool_calls") or ()]
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TurnRecord:
        return cls.from_dict(json.loads(text))


_TURN_SCALARS = tuple(
    f.name for f in fields(TurnRecord) if f.name not in ("tool_calls", "providers", "failovers")
)


@dataclass(slots=True)
class TranscriptEntry:
    role: Role
    text: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "text": self.text, "at": self.at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TranscriptEntry:
        return cls(**_known(cls, data))


@dataclass(slots=True)
class SessionRecord:
    """One conversation. ``turns`` and ``transcript`` are filled by ``Store.get_session``;
    ``Store.list_sessions`` returns summaries where both are empty."""

    id: str
    started_at: float
    transport: str
    agent_name: str
    ended_at: float | None = None
    duration: float | None = None
    """Derived: ``ended_at - started_at`` once the session has ended."""
    providers: dict[str, str] = field(default_factory=dict)
    """``{"stt": "pocketsphinx/en-us", "llm": ..., "tts": ..., "vad": ...}``."""
    outcome: Outcome = "active"
    error: str | None = None
    transcript: list[TranscriptEntry] = field(default_factory=list)
    annotations: dict[str, Any] = field(default_factory=dict)
    """Free-form, JSON-safe; e.g. a plugin's sentiment. Merged key by key."""
    turn_count: int = 0
    turns: list[TurnRecord] = field(default_factory=list)
    v: int = RECORD_VERSION

    def __post_init__(self) -> None:
        if self.duration is None and self.ended_at is not None:
            self.duration = self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in _SESSION_SCALARS}
        d["providers"] = dict(self.providers)
        d["annotations"] = dict(self.annotations)
        d["transcript"] = [e.to_dict() for e in self.transcript]
        d["turns"] = [t.to_dict() for t in self.turns]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionRecord:
        d = _known(cls, data)
        d["transcript"] = [TranscriptEntry.from_dict(e) for e in d.get("transcript") or ()]
        d["turns"] = [TurnRecord.from_dict(t) for t in d.get("turns") or ()]
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SessionRecord:
        return cls.from_dict(json.loads(text))


_SESSION_SCALARS = tuple(
    f.name
    for f in fields(SessionRecord)
    if f.name not in ("providers", "annotations", "transcript", "turns")
)


@dataclass(slots=True)
class SessionEnd:
    """What observers receive when a session ends (the store gets ``end_session``)."""

    session_id: str
    ended_at: float
    outcome: Outcome
    error: str | None = None


@dataclass(slots=True)
class ErrorRecord:
    """A failure worth counting: a provider error, a tool crash, a transport drop."""

    component: str
    """"stt", "llm", "tts", "vad", "tool", "transport", "plugin", ..."""
    message: str
    at: float = field(default_factory=time.time)
    session_id: str | None = None
    provider: str | None = None
    v: int = RECORD_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "message": self.message,
            "at": self.at,
            "session_id": self.session_id,
            "provider": self.provider,
            "v": self.v,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorRecord:
        return cls(**_known(cls, data))


Record = SessionRecord | SessionEnd | TurnRecord | ErrorRecord


class Percentiles(TypedDict):
    p50: float | None
    p90: float | None
    p99: float | None
    count: int


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def percentiles(values: Iterable[float | None]) -> Percentiles:
    """p50/p90/p99 of the known values (``None`` skipped)."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return {"p50": None, "p90": None, "p99": None, "count": 0}
    return {
        "p50": _quantile(ordered, 0.50),
        "p90": _quantile(ordered, 0.90),
        "p99": _quantile(ordered, 0.99),
        "count": len(ordered),
    }


def turn_percentiles(turns: Iterable[TurnRecord], metric: str) -> Percentiles:
    """Percentiles of one :data:`TURN_METRICS` field over ``turns``."""
    if metric not in TURN_METRICS:
        raise ValueError(f"unknown turn metric {metric!r}; known: {', '.join(TURN_METRICS)}")
    return percentiles(getattr(t, metric) for t in turns)
