"""An ``AgentSession``'s events as schema events (:mod:`causerie.events.schema`), for every
transport: the browser bridge (WebSocket, WebRTC) and LiveKit data messages.

The client's ``turn_metrics`` event is the session's :class:`~causerie.metrics.turns.
TurnAssembler` output, the same figures the store, Prometheus and the live feed get.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from livekit.agents.voice import AgentSession, io
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
)

from ..events.channel import EventChannel
from ..metrics.turns import TurnAssembler
from ..store.records import TranscriptEntry, TurnRecord

logger = logging.getLogger(__name__)


class TranscriptOut(io.TextOutput):
    """The reply's text as the transcript synchronizer releases it (in step with the audio)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        super().__init__(label="causerie-transcript", next_in_chain=None)
        self._emit = emit
        self._text = ""

    async def capture_text(self, text: str) -> None:
        self._text += text
        if self._text.strip():
            self._emit(self._text.strip())

    def flush(self) -> None:
        self._text = ""


class SessionEvents:
    """Subscribe with :meth:`attach`, before the session starts; :meth:`detach` after close.

    ``take_voice_to_voice`` returns (and forgets) the transport's measured voice-to-voice for
    the reply that just ended; None where the transport cannot hear the peer (LiveKit).
    ``on_user_stopped`` is called when the user stops speaking (voice-to-voice starts there).
    ``interrupted_from_items``: emit ``interrupted`` from the chat item, for transports whose
    audio output does not report it itself. ``turns``: the session's assembler (default: a
    new one, exposed as :attr:`turns` for the recorder to share)."""

    def __init__(
        self,
        session: AgentSession[Any],
        events: EventChannel,
        *,
        take_voice_to_voice: Callable[[], float | None] | None = None,
        on_user_stopped: Callable[[], None] | None = None,
        interrupted_from_items: bool = True,
        turns: TurnAssembler | None = None,
    ) -> None:
        self._session = session
        self._events = events
        self._on_user_stopped = on_user_stopped
        self._interrupted_from_items = interrupted_from_items
        self.turns = turns or TurnAssembler(take_voice_to_voice=take_voice_to_voice)
        if turns is not None and take_voice_to_voice is not None:
            turns.take_voice_to_voice = take_voice_to_voice
        self.text_output: io.TextOutput = TranscriptOut(self._on_agent_text)
        self._handlers: dict[str, Callable[[Any], None]] = {
            "agent_state_changed": self._on_agent_state,
            "user_state_changed": self._on_user_state,
            "user_input_transcribed": self._on_transcribed,
            "conversation_item_added": self._on_item,
            "error": self._on_error,
            "close": self._on_close,
        }

    def attach(self) -> None:
        self.turns.attach(self._session)
        self.turns.listeners.append(self._on_turn)
        for name, cb in self._handlers.items():
            self._session.on(name, cb)  # type: ignore[arg-type]

    def detach(self) -> None:
        if self._on_turn in self.turns.listeners:
            self.turns.listeners.remove(self._on_turn)
        self.turns.detach()
        for name, cb in self._handlers.items():
            self._session.off(name, cb)  # type: ignore[arg-type]

    def _on_agent_text(self, text: str) -> None:
        self._events.emit("agent_transcript", text=text, final=False, interrupted=False)

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        self._events.emit("agent_state", state=ev.new_state)

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if ev.old_state == "speaking" and ev.new_state == "listening" and self._on_user_stopped:
            self._on_user_stopped()
        self._events.emit("user_state", state=ev.new_state)

    def _on_transcribed(self, ev: UserInputTranscribedEvent) -> None:
        if ev.transcript.strip():
            self._events.emit("user_transcript", text=ev.transcript.strip(), final=ev.is_final)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if getattr(item, "role", None) == "assistant":
            text = getattr(item, "text_content", None) or ""
            interrupted = bool(getattr(item, "interrupted", False))
            if interrupted and self._interrupted_from_items:
                self._events.emit("interrupted")
            self._events.emit("agent_transcript", text=text, final=True, interrupted=interrupted)

    def _on_turn(self, turn: TurnRecord, _: list[TranscriptEntry]) -> None:
        self._events.emit(
            "turn_metrics",
            turn=turn.index,
            voice_to_voice=turn.voice_to_voice,
            stt=turn.stt_final_delay,
            end_of_turn=turn.end_of_utterance_delay,
            llm_ttft=turn.llm_ttft,
            tts_ttfb=turn.tts_ttfb,
            lk_e2e_latency=turn.lk_e2e_latency,
            interrupted=turn.interrupted,
        )

    def _on_error(self, ev: ErrorEvent) -> None:
        # Not forwarded: livekit relays a shared provider's errors to every session using it.
        # A session's own faults reach its client through its Faults observer.
        logger.info("provider error (maybe another session's): %s", ev.error)

    def _on_close(self, ev: CloseEvent) -> None:
        if ev.error is not None:
            self._events.emit("error", code="session_closed", message=str(ev.error), fatal=True)
