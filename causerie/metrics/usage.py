"""Per-reply usage from the providers' own ``metrics_collected`` events: LLM duration and
tokens, TTS synthesis time, a non-streaming STT's decode time.

livekit-agents 1.8 deprecates the session's relay of these events (``AgentSession``
``metrics_collected``) and puts per-turn latencies on ``ChatMessage.metrics``, which has no
durations or tokens; ``session_usage_updated`` has tokens, but as a running total summed
over every session that shares the provider object. The providers' own events (the base
classes' API, the one livekit listens to itself) carry them per request.

Sessions of one process share provider objects, so such an event (and a provider's error)
reaches every session using it. They are sorted by the asyncio context: a provider's stream
runs in a task created by the session's own tasks, which inherit the context of the task
that called ``session.start()``; :func:`enter_scope` marks that context.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from livekit.agents import llm, stt, tts
from livekit.agents.metrics import LLMMetrics, STTMetrics, TTSMetrics

logger = logging.getLogger(__name__)

_SCOPE: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "causerie_session_scope", default=None
)


def enter_scope(owner: object) -> None:
    """Mark the current context (and the tasks it will create) as ``owner``'s."""
    _SCOPE.set(owner)


def in_scope(owner: object) -> bool:
    """Whether code running now belongs to ``owner`` (unmarked contexts belong to all)."""
    current = _SCOPE.get()
    return current is None or current is owner


Usage = Callable[[str, LLMMetrics | STTMetrics | TTSMetrics], None]
"""Called with the stage ("llm", "stt", "tts") and the provider's metrics."""


class ProviderUsage:
    """Listens to a session's LLM, STT and TTS objects and passes on what ``owner``'s own
    requests report."""

    def __init__(self, owner: object, on_usage: Usage) -> None:
        self._owner = owner
        self._on_usage = on_usage
        self._subscribed: list[tuple[Any, Callable[[Any], None]]] = []

    def attach(self, session: Any) -> None:
        for stage, base in (("llm", llm.LLM), ("stt", stt.STT), ("tts", tts.TTS)):
            provider = getattr(session, stage, None)
            if isinstance(provider, base):

                def cb(m: Any, stage: str = stage) -> None:
                    self._on_metrics(stage, m)

                provider.on("metrics_collected", cb)
                self._subscribed.append((provider, cb))

    def detach(self) -> None:
        for provider, cb in self._subscribed:
            provider.off("metrics_collected", cb)
        self._subscribed = []

    def _on_metrics(self, stage: str, m: Any) -> None:
        if isinstance(m, LLMMetrics | STTMetrics | TTSMetrics) and in_scope(self._owner):
            self._on_usage(stage, m)
