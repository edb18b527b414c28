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
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents.voice.events import (
    CloseEvent,
)
from livekit.agents.voice.transcription import TranscriptSynchronizer

from ..agent.faults import Faults, session_faults
from ..agent.lk_events import trim_recorded_events
from ..agent.pipeline import Pipeline
from ..agent.session import build_agent, build_session
from ..agent.userdata import SessionData
from ..config.loader import LoadedConfig
from ..events.schema import (
    ClientAction,
    EventError,
    Interrupt,
    Mute,
    Ping,
    TextInput,
    parse_client_event,
)
from ..plugins.stores import PluginStores
from ..providers.http import vendor_http
from .audio_io import FRAME_MS, PacedAudioOutput, QueueAudioInput, Segment, is_audible
from .session_events import SessionEvents

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
    ) -> None:
        spec = loaded.spec
        self.userdata = SessionData(
            language=spec.base_language, transport=transport, identity=identity
        )
        self.events = self.userdata.events
        self.session_id = self.userdata.session_id
        self.transport = transport
        self.agent_name = spec.name
        self._send_audio = send_audio
        self._drop_audio = drop_audio
        self.faults = session_faults(faults, self.events)
        # Bounded: a peer streaming faster than real time loses its oldest audio, not our memory.
        self.audio_in = QueueAudioInput(max_seconds=max_input_seconds)
        self.audio_out = PacedAudioOutput(
            self._on_frame_out,
            sample_rate=out_rate,
            on_segment_start=self._on_segment_start,
            on_segment_end=self._on_segment_end,
            lead=OUTPUT_LEAD,
        )
        self.session = build_session(loaded, pipeline, self.userdata)
        self._mapper = SessionEvents(
            self.session,
            self.events,
            take_voice_to_voice=self._take_voice_to_voice,
            on_user_stopped=self._user_stopped,
            interrupted_from_items=False,  # the audio output reports it, with the cut
        )
        self._sync = TranscriptSynchronizer(
            next_in_chain_audio=self.audio_out, next_in_chain_text=self._mapper.text_output
        )
        tools = tools_factory(self.userdata) if tools_factory is not None else None
        self.agent = build_agent(loaded, self.faults, tools, plugin_stores=plugin_stores)
        self.muted = False
        self.closed = asyncio.Event()
        """Set when the session ended on its own (error) or was closed."""
        self.started_at = time.time()
        self._close_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # client actions in flight
        self._silence = rtc.AudioFrame(
            bytes(IN_RATE * FRAME_MS // 1000 * 2), IN_RATE, 1, IN_RATE * FRAME_MS // 1000
        )
        # Voice-to-voice bookkeeping.
        self._speech_end: float | None = None
        self._segment_started_at = 0.0
        self._v2v: float | None = None
        self._http = contextlib.AsyncExitStack()  # the vendor plugins' HTTP session

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.session
        s.input.audio = self.audio_in
        s.output.audio = self._sync.audio_output
        s.output.transcription = self._sync.text_output
        self._mapper.attach()
        s.on("close", self._on_close)
        self.events.emit(
            "ready",
            session_id=self.session_id,
            transport=self.transport,
            agent_name=self.agent_name,
            sample_rate=IN_RATE,
            frame_bytes=IN_RATE * FRAME_MS // 1000 * 2,
        )
        await self._http.enter_async_context(vendor_http())
        await s.start(self.agent, record=False)

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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.session.aclose()
        finally:
            await self._http.aclose()
            await self._sync.aclose()
            await self.audio_out.aclose()
            self._mapper.detach()
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
        try:
            ev = parse_client_event(raw)
        except EventError as e:
            self.events.emit("error", code=e.code, message=e.message, fatal=False)
            return
        if isinstance(ev, TextInput):
            self._interrupt()
            self._speech_end = None  # typed: no voice-to-voice for this turn
            self.session.generate_reply(user_input=ev.text)
        elif isinstance(ev, Mute):
            self.muted = ev.muted
        elif isinstance(ev, Interrupt):
            self._interrupt()
        elif isinstance(ev, Ping):
            self.events.emit("pong", id=ev.id)
        elif isinstance(ev, ClientAction):
            task = asyncio.create_task(
                self._client_action(ev.model_dump()), name=f"LiveSession.action[{self.session_id}]"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _client_action(self, event: dict[str, Any]) -> None:
        from ..tools import handle_client_action  # the shop tools: loaded on first click

        try:
            await handle_client_action(self.session, event)
        except Exception as e:  # documented never to raise; a bug must not kill the session
            logger.exception("client action %s failed", event.get("action"))
            self.events.emit("error", code="action_failed", message=str(e), fatal=False)

    def _interrupt(self) -> None:
        try:
            fut = self.session.interrupt()
        except RuntimeError as e:  # not running, or the speech is uninterruptible
            self.events.emit("error", code="interrupt_failed", message=str(e), fatal=False)
            return
        fut.add_done_callback(_log_future_error)

    # -- audio output ----------------------------------------------------------------------

    def _on_frame_out(self, frame: rtc.AudioFrame) -> None:
        self._send_audio(frame)

    def _on_segment_start(self, seg: Segment) -> None:
        self._segment_started_at = time.monotonic()

    def _on_segment_end(self, seg: Segment) -> None:
        trim_recorded_events(self.session)  # once a reply: livekit's list never shrinks
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


def _log_future_error(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.warning("interrupt failed: %s", fut.exception())
