"""The per-session half of the composition root: one conversation's ``AgentSession`` and
agent, its faults, its events (schema: :mod:`causerie.events.schema`) and the client's
events, the same on every transport.

A transport gives a conversation audio in, audio out and an event sink (``events``), feeds
it the client's events (:meth:`Conversation.handle_client_event`, or
:meth:`Conversation.handle_rpc` on LiveKit) and closes it; nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents.types import NOT_GIVEN
from livekit.agents.voice import AgentSession, AgentStateChangedEvent, io, room_io

from ..agent.faults import session_faults
from ..agent.session import build_agent, build_session
from ..compat.livekit import KEEP_EVENTS, trim_recorded_events
from ..events.schema import (
    ClientAction,
    EventError,
    Interrupt,
    Mute,
    Ping,
    TextInput,
    parse_client_event,
)
from ..providers.http import vendor_http
from ..userdata import SessionData
from .mute import MuteGate
from .runtime import Runtime, SessionHook
from .session_events import SessionEvents

logger = logging.getLogger(__name__)


class Conversation:
    """Create, :meth:`start` once, then always :meth:`aclose`.

    ``audio_in``/``audio_out``: the transport's custom audio I/O (None: none, or a LiveKit
    room's, given to :meth:`start`). ``greeting=False``: the transport says it itself (text
    chat) or not at all (tests). ``events_options``: the transport's part of the event
    mapping (:class:`~causerie.runtime.session_events.SessionEvents`)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        transport: str,
        identity: str | None = None,
        language: str | None = None,
        audio_in: io.AudioInput | None = None,
        audio_out: io.AudioOutput | None = None,
        greeting: bool = True,
        events_options: dict[str, Any] | None = None,
    ) -> None:
        spec = runtime.loaded.spec
        self.runtime = runtime
        self.userdata = SessionData(
            language=language or spec.base_language, transport=transport, identity=identity
        )
        self.events = self.userdata.events
        self.faults = session_faults(runtime.faults, self.events)
        self.session: AgentSession[SessionData] = build_session(
            runtime.loaded, runtime.pipeline, self.userdata
        )
        self.mapper = SessionEvents(self.session, self.events, **(events_options or {}))
        self.agent = build_agent(
            runtime.loaded,
            self.faults,
            runtime.tools_for(self.userdata),
            plugin_stores=runtime.plugin_stores,
        )
        if not greeting:
            self.agent.greeting = None
        self.mute: MuteGate | None = None
        self._muted = False
        self.use_audio(audio_in, audio_out)
        self.on_end: list[Callable[[str], None]] = []
        """Called with the reason the conversation ended (the transport knows it)."""
        self.on_text_input: Callable[[str], None] | None = None
        """Called when the client types (voice-to-voice is not measured for such a turn)."""
        self._tasks: set[asyncio.Task[Any]] = set()  # client actions in flight
        self._http = contextlib.AsyncExitStack()  # the vendor plugins' HTTP session
        self.keep_events = KEEP_EVENTS
        """livekit's session keeps every event it emits: trimmed to this after each reply."""
        self.session.on("agent_state_changed", self._on_agent_state)

    @property
    def session_id(self) -> str:
        return self.userdata.session_id

    @property
    def transport(self) -> str:
        return self.userdata.transport

    @property
    def agent_name(self) -> str:
        return self.runtime.loaded.spec.name

    @property
    def muted(self) -> bool:
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        self._muted = value
        if self.mute is not None:
            self.mute.muted = value

    def use_audio(self, audio_in: io.AudioInput | None, audio_out: io.AudioOutput | None) -> None:
        """The transport's custom audio I/O; before :meth:`start`."""
        if audio_in is not None:
            self.mute = MuteGate(audio_in)
            self.mute.muted = self._muted
            self.session.input.audio = self.mute
        if audio_out is not None:
            self.session.output.audio = audio_out

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        if ev.new_state == "listening":  # a reply is over, on every transport
            trim_recorded_events(self.session, self.keep_events)

    # -- lifecycle -------------------------------------------------------------------------

    def run_hooks(self, target: Any = None, extra: list[SessionHook] | None = None) -> None:
        """The runtime's recorder and session hooks, then ``extra``, with ``target`` (default:
        this conversation); call before :meth:`start`, in the task that starts it."""
        target = self if target is None else target
        if self.runtime.metrics is not None:
            self.runtime.metrics.session_hook(target)
        for hook in [*self.runtime.session_hooks, *(extra or [])]:
            hook(target)

    async def start(
        self,
        *,
        room: rtc.Room | None = None,
        room_options: room_io.RoomOptions | None = None,
        attach_events: bool = True,
    ) -> None:
        if attach_events:
            self.mapper.attach()
        await self._http.enter_async_context(vendor_http())
        if room is None:
            await self.session.start(self.agent, record=False)
        else:
            options = room_options if room_options is not None else NOT_GIVEN
            await self.session.start(self.agent, room=room, room_options=options, record=False)
        audio = self.session.input.audio
        if audio is not None and not isinstance(audio, MuteGate):  # a room's input
            self.mute = MuteGate(audio)
            self.mute.muted = self._muted
            self.session.input.audio = self.mute

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.session.aclose()
        finally:
            await self._http.aclose()
            self.mapper.detach()

    # -- client events (every transport) ---------------------------------------------------

    async def handle_rpc(self, data: rtc.RpcInvocationData) -> str:
        """LiveKit's RPC method: the reply is the call's answer."""
        return json.dumps(self.handle_client_event(data.payload))

    def handle_client_event(self, raw: str | bytes | dict[str, Any]) -> dict[str, Any]:
        """Apply one client event; a bad one is answered (an ``error`` event and
        ``{"ok": false, ...}``), never raised. UI actions run in the background: their
        outcome comes as events (``cart``...) and the agent's words."""
        try:
            ev = parse_client_event(raw)
        except EventError as e:
            self.events.emit("error", code=e.code, message=e.message, fatal=False)
            return {"ok": False, "error": e.code, "message": e.message}
        try:
            if isinstance(ev, TextInput):
                self._interrupt(quiet=True)
                if self.on_text_input is not None:
                    self.on_text_input(ev.text)
                self.session.generate_reply(user_input=ev.text)
            elif isinstance(ev, Mute):
                self.muted = ev.muted
            elif isinstance(ev, Interrupt):
                self._interrupt(quiet=False)
            elif isinstance(ev, Ping):
                self.events.emit("pong", id=ev.id)
            elif isinstance(ev, ClientAction):
                self.spawn_client_action(ev.model_dump())
        except RuntimeError as e:  # the session is closing or not started
            return {"ok": False, "error": "not_running", "message": str(e)}
        return {"ok": True}

    def spawn_client_action(self, event: dict[str, Any]) -> None:
        task = asyncio.create_task(
            self.client_action(event), name=f"Conversation.action[{self.session_id}]"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def client_action(self, event: dict[str, Any]) -> dict[str, Any]:
        """Apply a UI action now (``causerie test`` awaits it); a failure is reported as an
        ``error`` event, never raised."""
        try:
            return await self.runtime.client_action(self.session, event)
        except Exception as e:  # documented never to raise; a bug must not kill the session
            logger.exception("client action %s failed", event.get("action"))
            self.events.emit("error", code="action_failed", message=str(e), fatal=False)
            return {"ok": False, "action": event.get("action"), "message": str(e)}

    def _interrupt(self, *, quiet: bool) -> None:
        try:
            fut = self.session.interrupt()
        except RuntimeError as e:  # not running, or the speech is uninterruptible
            if not quiet:
                self.events.emit("error", code="interrupt_failed", message=str(e), fatal=False)
            return
        fut.add_done_callback(_log_future_error)


def _log_future_error(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.warning("interrupt failed: %s", fut.exception())
