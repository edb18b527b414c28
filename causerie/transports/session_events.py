"""An ``AgentSession``'s events as schema events (:mod:`causerie.events.schema`), for every
transport: the browser bridge (WebSocket, WebRTC) and LiveKit data messages.

Per-turn metrics come from the chat items and speech handles, not livekit's
``metrics_collected``: providers are shared by every session of a process and livekit relays
their events to all of them, which would mix conversations up.
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
    SpeechCreatedEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
)
from livekit.agents.voice.speech_handle import SpeechHandle

from ..events.channel import EventChannel
from ..metrics.records import plausible_latency

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
    audio output does not report it itself."""

    def __init__(
        self,
        session: AgentSession[Any],
        events: EventChannel,
        *,
        take_voice_to_voice: Callable[[], float | None] = lambda: None,
        on_user_stopped: Callable[[], None] | None = None,
        interrupted_from_items: bool = True,
    ) -> None:
        self._session = session
        self._events = events
        self._take_v2v = take_voice_to_voice
        self._on_user_stopped = on_user_stopped
        self._interrupted_from_items = interrupted_from_items
        self._user_metrics: dict[str, Any] = {}
        self.turns = 0
        self.text_output: io.TextOutput = TranscriptOut(self._on_agent_text)
        self._handlers: dict[str, Callable[[Any], None]] = {
            "agent_state_changed": self._on_agent_state,
            "user_state_changed": self._on_user_state,
            "user_input_transcribed": self._on_transcribed,
            "conversation_item_added": self._on_item,
            "speech_created": self._on_speech_created,
            "error": self._on_error,
            "close": self._on_close,
        }

    def attach(self) -> None:
        for name, cb in self._handlers.items():
            self._session.on(name, cb)  # type: ignore[arg-type]

    def detach(self) -> None:
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
        role = getattr(item, "role", None)
        if role == "user":
            self._user_metrics = dict(getattr(item, "metrics", {}) or {})
        elif role == "assistant":
            text = getattr(item, "text_content", None) or ""
            interrupted = bool(getattr(item, "interrupted", False))
            if interrupted and self._interrupted_from_items:
                self._events.emit("interrupted")
            self._events.emit("agent_transcript", text=text, final=True, interrupted=interrupted)

    def _on_speech_created(self, ev: SpeechCreatedEvent) -> None:
        ev.speech_handle.add_done_callback(self._on_speech_done)

    def _on_speech_done(self, handle: SpeechHandle) -> None:
        """One reply is over (played, interrupted or dropped). A reply cut before its first
        word has no chat item, so metrics hang off the speech, not the item."""
        items = [i for i in handle.chat_items if getattr(i, "role", None) == "assistant"]
        v2v = self._take_v2v()
        if not items and v2v is None:
            return  # never heard (e.g. a preemptive generation the user talked over)
        m = dict(getattr(items[-1], "metrics", {}) or {}) if items else {}
        self.turns += 1
        u, self._user_metrics = self._user_metrics, {}
        ok = plausible_latency  # livekit's figures use wall time: a clock step skews them
        self._events.emit(
            "turn_metrics",
            turn=self.turns,
            voice_to_voice=ok(v2v),
            stt=ok(u.get("transcription_delay")),
            end_of_turn=ok(u.get("end_of_turn_delay")),
            llm_ttft=ok(m.get("llm_node_ttft")),
            tts_ttfb=ok(m.get("tts_node_ttfb")),
            lk_e2e_latency=ok(m.get("e2e_latency")),
            interrupted=handle.interrupted,
        )

    def _on_error(self, ev: ErrorEvent) -> None:
        # Not forwarded: livekit relays a shared provider's errors to every session using it.
        # A session's own faults reach its client through its Faults observer.
        logger.info("provider error (maybe another session's): %s", ev.error)

    def _on_close(self, ev: CloseEvent) -> None:
        if ev.error is not None:
            self._events.emit("error", code="session_closed", message=str(ev.error), fatal=True)
