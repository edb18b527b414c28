"""A session's errors, each one :class:`~causerie.store.records.ErrorRecord`: livekit's
``error`` events (a provider failed or retried), a fallback chain dropping a provider, a
tool that failed, and the faults the agent turned into an apology
(:class:`~causerie.agent.faults.Faults`).

livekit relays a shared provider's ``error`` (and a shared chain's availability change) to
every session using it; only the session whose request failed keeps it (see
:mod:`.usage`). The agent's fault and livekit's event for the same failure count once.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from livekit.agents.voice import AgentSession
from livekit.agents.voice.events import ErrorEvent, FunctionToolsExecutedEvent

from .providers import describe
from .turns import TOOL_TEXT_MAX, TurnAssembler

logger = logging.getLogger(__name__)

COMPONENTS = {
    "LLMError": "llm",
    "STTError": "stt",
    "TTSError": "tts",
    "RealtimeModelError": "llm",
    "InterruptionDetectionError": "vad",
}
"""livekit's error type -> the component records name."""

Record = Callable[[str, str, str | None], None]
"""Records ``(component, message, provider)``."""


class SessionErrors:
    def __init__(self, turns: TurnAssembler, record: Record) -> None:
        self._turns = turns
        self._record = record
        self._seen: deque[BaseException] = deque(maxlen=16)
        self._session: AgentSession[Any] | None = None
        self._chain_handlers: list[tuple[str, Callable[[Any], None]]] = []

    def attach(self, session: AgentSession[Any]) -> None:
        self._session = session
        session.on("error", self._on_error)
        session.on("function_tools_executed", self._on_tools)
        for kind in self._turns.chains:  # a chain's failing provider is a fault it absorbed
            cb = functools.partial(self._on_availability, kind)
            getattr(session, kind).on(f"{kind}_availability_changed", cb)
            self._chain_handlers.append((kind, cb))

    def detach(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        session.off("error", self._on_error)
        session.off("function_tools_executed", self._on_tools)
        for kind, cb in self._chain_handlers:
            getattr(session, kind).off(f"{kind}_availability_changed", cb)
        self._chain_handlers = []

    def on_fault(self, component: str, error: BaseException) -> None:
        """A :class:`~causerie.agent.faults.Faults` observer: a fault the agent handled
        (LLM timeout, tool crash); one livekit already reported is not counted twice."""
        if any(error is e or error.__cause__ is e or error.__context__ is e for e in self._seen):
            return
        self._record(component, f"{type(error).__name__}: {error}", None)

    def _on_error(self, ev: ErrorEvent) -> None:
        if not self._turns.owns_context():  # a shared provider's error from another session
            return
        err = ev.error
        inner = getattr(err, "error", None) or err
        if isinstance(inner, BaseException):
            self._seen.append(inner)
        component = COMPONENTS.get(type(err).__name__, "pipeline")
        suffix = "" if getattr(err, "recoverable", True) else " (unrecoverable)"
        self._record(component, f"{type(inner).__name__}: {inner}{suffix}", None)

    def _on_tools(self, ev: FunctionToolsExecutedEvent) -> None:
        for call, out in ev.zipped():
            if out.is_error:
                self._record("tool", f"{call.name}: {str(out.output)[:TOOL_TEXT_MAX]}", call.name)

    def _on_availability(self, stage: str, ev: Any) -> None:
        """livekit's FallbackAdapter marked a provider down (it failed or timed out)."""
        if ev.available or not self._turns.owns_context():
            return
        failed = describe(getattr(ev, stage, None)) or "unknown"
        self._record(
            stage, f"{failed} failed or timed out; the next in the chain takes over", failed
        )
