"""The event schema (:mod:`causerie.events.schema`) over LiveKit.

Server -> client: each event of the session's :class:`~causerie.events.EventChannel` is one JSON
data message on topic :data:`EVENTS_TOPIC` (reliable, in order). An event too large for one
data packet goes as a text stream on the same topic, so a big tool UI event is never cut.

Client -> server: RPC method :data:`CLIENT_RPC_METHOD` on the agent's participant, payload one
client event (``text``, ``mute``, ``interrupt``, ``ping``); the reply is ``{"ok": true}`` or
``{"ok": false, "error": code, "message": ...}``. RPC, not data messages, so a client learns
whether the agent got it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from livekit import rtc
from livekit.agents.voice import AgentSession

from ...events.channel import EventChannel
from ...events.schema import (
    EventError,
    Interrupt,
    Mute,
    Ping,
    TextInput,
    encode,
    parse_client_event,
)

logger = logging.getLogger(__name__)

EVENTS_TOPIC = "causerie.events"
CLIENT_RPC_METHOD = "causerie.client"
MAX_PACKET_BYTES = 14_000
"""A reliable data packet carries about 15 KiB; above this an event goes as a text stream."""


class EventPublisher:
    """Sends events to the room in order from one owned task. ``publish`` never blocks (it is
    an :class:`EventChannel` listener on the voice path); past ``max_pending`` the oldest
    unsent events are dropped and counted rather than growing without bound."""

    def __init__(
        self,
        participant: rtc.LocalParticipant,
        *,
        topic: str = EVENTS_TOPIC,
        max_pending: int = 512,
    ) -> None:
        self._participant = participant
        self._topic = topic
        self._pending: deque[tuple[str, list[str]]] = deque()
        self._max_pending = max_pending
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.failed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="livekit.EventPublisher")

    def publish(self, event: dict[str, Any], to: list[str] | None = None) -> None:
        """Queue ``event`` for everyone in the room, or only for the identities in ``to``."""
        self._pending.append((encode(event), list(to or [])))
        while len(self._pending) > self._max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._idle.clear()
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            text, to = self._pending.popleft()
            try:
                await self._send(text, to)
                self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a room that went away: the events have nobody to reach
                self.failed += 1
                logger.warning("could not send an event to the room: %s", e)

    async def _send(self, text: str, to: list[str]) -> None:
        if len(text.encode()) <= MAX_PACKET_BYTES:
            await self._participant.publish_data(
                text, reliable=True, topic=self._topic, destination_identities=to
            )
        else:
            await self._participant.send_text(
                text, topic=self._topic, destination_identities=to or None
            )

    async def aclose(self, flush_timeout: float = 1.0) -> None:
        """Send what is queued (up to ``flush_timeout`` s), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), flush_timeout)
        task, self._task = self._task, None
        task.cancel()
        # gather() absorbs the task's CancelledError but re-raises one aimed at us.
        await asyncio.gather(task, return_exceptions=True)


class ClientEvents:
    """Applies client events (received by RPC) to the session; answers every call, never raises."""

    def __init__(self, session: AgentSession[Any], events: EventChannel) -> None:
        self._session = session
        self._events = events

    async def handle_rpc(self, data: rtc.RpcInvocationData) -> str:
        return json.dumps(self.handle(data.payload))

    def handle(self, raw: str | bytes | dict[str, Any]) -> dict[str, Any]:
        try:
            ev = parse_client_event(raw)
        except EventError as e:
            self._events.emit("error", code=e.code, message=e.message, fatal=False)
            return {"ok": False, "error": e.code, "message": e.message}
        try:
            if isinstance(ev, TextInput):
                self._interrupt(quiet=True)
                self._session.generate_reply(user_input=ev.text)
            elif isinstance(ev, Mute):
                self._session.input.set_audio_enabled(not ev.muted)
            elif isinstance(ev, Interrupt):
                self._interrupt(quiet=False)
            elif isinstance(ev, Ping):
                self._events.emit("pong", id=ev.id)
        except RuntimeError as e:  # the session is closing or not started
            return {"ok": False, "error": "not_running", "message": str(e)}
        return {"ok": True}

    def _interrupt(self, *, quiet: bool) -> None:
        try:
            fut = self._session.interrupt()
        except RuntimeError as e:  # not running, or the speech is uninterruptible
            if not quiet:
                self._events.emit("error", code="interrupt_failed", message=str(e), fatal=False)
            return
        fut.add_done_callback(_log_future_error)


def _log_future_error(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.warning("interrupt failed: %s", fut.exception())
