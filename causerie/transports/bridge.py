"""What every embedded transport shares: one connection's ``AgentSession`` with its audio
I/O, and the translation between livekit session events and schema events (and back).

A transport only moves bytes. It gives :class:`LiveSession` two callables, ``send_audio``
(queue one output frame to the peer, never blocking) and ``drop_audio`` (forget frames queued
to the peer: barge-in), pushes the peer's microphone frames with :meth:`LiveSession.push_audio`,
reports each output frame as it leaves with :meth:`LiveSession.audio_sent`, feeds client
messages to :meth:`LiveSession.handle_message`, and sends whatever
``LiveSession.events`` emits (schema: :mod:`causerie.events.schema`).

Voice-to-voice latency is measured here, at the transport: from the wall time the last
audible input frame arrived (taken when the VAD says the user stopped) to the wall time the
first audible frame of the reply left for the peer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents.voice.events import CloseEvent
from livekit.agents.voice.transcription import TranscriptSynchronizer

from ..agent.faults import Faults
from ..agent.pipeline import Pipeline
from ..compat.livekit import vectorised_speaking_rate
from ..config.loader import LoadedConfig
from ..plugins.stores import PluginStores
from ..runtime import Conversation, Runtime
from ..userdata import SessionData
from .audio_io import FRAME_MS, PacedAudioOutput, QueueAudioInput, Segment, is_audible

logger = logging.getLogger(__name__)

IN_RATE = 16000
"""Rate of the frames pushed into the session (the STT and VAD rate)."""


SendAudio = Callable[[rtc.AudioFrame], None]
ToolsFactory = Callable[[SessionData], list[Any]]


# Browser clients buffer this much ahead and drop it on "interrupted": it absorbs event-loop
# stalls (no underruns) without delaying barge-in.
OUTPUT_LEAD = 0.1


class LiveSession:
    """One peer's conversation. Create, :meth:`start`, then always :meth:`aclose`."""

    def __init__(
        self,
        *,
        loaded: LoadedConfig,
        pipeline: Pipeline,
        transport: str,
        out_rate: int,
        send_audio: SendAudio,
        drop_audio: Callable[[], None],
        faults: Faults | None = None,
        tools_factory: ToolsFactory | None = None,
        identity: str | None = None,
        max_input_seconds: float = 1.0,
        plugin_stores: PluginStores | None = None,
        tools: list[Any] | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        """``runtime``: the process's (default: one made of ``loaded``, ``pipeline``,
        ``faults``, ``tools`` (built already, or None: per session), ``tools_factory`` and
        ``plugin_stores``)."""
        if runtime is None:
            runtime = Runtime(
                loaded,
                pipeline,
                faults=faults or Faults(),
                tools=tools,
                tools_factory=tools_factory,
                plugin_stores=plugin_stores,
            )
        self.transport = transport
        self._send_audio = send_audio
        self._drop_audio = drop_audio
        # Bounded: a peer streaming faster than real time loses its oldest audio, not our memory.
        self.audio_in = QueueAudioInput(max_seconds=max_input_seconds)
        self.audio_out = PacedAudioOutput(
            self._on_frame_out,
            sample_rate=out_rate,
            on_segment_start=self._on_segment_start,
            on_segment_end=self._on_segment_end,
            lead=OUTPUT_LEAD,
        )
        self.conversation = Conversation(
            runtime,
            transport=transport,
            identity=identity,
            audio_in=self.audio_in,
            events_options={
                "take_voice_to_voice": self._take_voice_to_voice,
                "on_user_stopped": self._user_stopped,
                "interrupted_from_items": False,  # the audio output reports it, with the cut
            },
        )
        c = self.conversation
        c.on_text_input = self._typed
        self.userdata: SessionData = c.userdata
        self.events = c.events
        self.session_id = c.session_id
        self.agent_name = c.agent_name
        self.faults = c.faults
        self.session = c.session
        self.agent = c.agent
        self._sync = TranscriptSynchronizer(
            next_in_chain_audio=self.audio_out, next_in_chain_text=c.mapper.text_output
        )
        vectorised_speaking_rate(self._sync)  # its estimate ran on the event loop, in a loop
        self.closed = asyncio.Event()
        """Set when the session ended on its own (error) or was closed."""
        self.started_at = time.time()
        self._close_task: asyncio.Task[None] | None = None
        self._silence = rtc.AudioFrame(
            bytes(IN_RATE * FRAME_MS // 1000 * 2), IN_RATE, 1, IN_RATE * FRAME_MS // 1000
        )
        # Voice-to-voice bookkeeping.
        self._speech_end: float | None = None
        self._segment_started_at = 0.0
        self._v2v: float | None = None

    @property
    def muted(self) -> bool:
        return self.conversation.muted

    @muted.setter
    def muted(self, value: bool) -> None:
        self.conversation.muted = value

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.session
        s.output.audio = self._sync.audio_output
        s.output.transcription = self._sync.text_output
        self.conversation.mapper.attach()
        s.on("close", self._on_close)
        self.events.emit(
            "ready",
            session_id=self.session_id,
            transport=self.transport,
            agent_name=self.agent_name,
            sample_rate=IN_RATE,
            frame_bytes=IN_RATE * FRAME_MS // 1000 * 2,
        )
        await self.conversation.start(attach_events=False)

    async def aclose(self) -> None:
        """Close once; safe to call from several places. Cancelling the caller does not
        cancel the close itself (a half-closed session would leak its tasks)."""
        if self._close_task is None:
            self._close_task = asyncio.create_task(
                self._aclose(), name=f"LiveSession.close[{self.session_id}]"
            )
        await asyncio.shield(self._close_task)

    async def _aclose(self) -> None:
        self.audio_in.close()
        try:
            await self.conversation.aclose()
        finally:
            await self._sync.aclose()
            await self.audio_out.aclose()
            self.session.off("close", self._on_close)
            self.closed.set()

    # -- from the transport ----------------------------------------------------------------

    def push_audio(self, frame: rtc.AudioFrame) -> None:
        """One microphone frame (16 kHz mono). While muted the session hears silence, so its
        VAD still sees the end of speech."""
        self.audio_in.push(self._silence if self.muted else frame)

    def audio_sent(self, frame: rtc.AudioFrame) -> None:
        """The transport handed ``frame`` to the peer now: the end of a voice-to-voice span."""
        end = self._speech_end
        if end is not None and self._segment_started_at >= end and is_audible(frame):
            gap = self.audio_in.last_gap_at
            # Monotonic times. A gap in the client's frames after its speech would count the
            # client's silence as ours: no figure rather than a wrong one.
            self._v2v = None if gap is not None and gap > end else time.monotonic() - end
            self._speech_end = None

    def handle_message(self, raw: str | bytes) -> None:
        """A client event; a bad one is answered with an error event, never an exception."""
        self.conversation.handle_client_event(raw)

    def _typed(self, text: str) -> None:
        self._speech_end = None  # typed: no voice-to-voice for this turn

    # -- audio output ----------------------------------------------------------------------

    def _on_frame_out(self, frame: rtc.AudioFrame) -> None:
        self._send_audio(frame)

    def _on_segment_start(self, seg: Segment) -> None:
        self._segment_started_at = time.monotonic()

    def _on_segment_end(self, seg: Segment) -> None:
        if seg.interrupted:
            # Frames already queued to the peer would keep the agent talking over the user.
            self._drop_audio()
            self.events.emit("interrupted")

    # -- voice-to-voice (the rest of the session's events: SessionEvents) --------------------

    def _user_stopped(self) -> None:
        self._speech_end = self.audio_in.last_audible_at

    def _take_voice_to_voice(self) -> float | None:
        v2v, self._v2v = self._v2v, None
        return v2v

    def _on_close(self, ev: CloseEvent) -> None:
        self.closed.set()
