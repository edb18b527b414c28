"""The event schema (:mod:`causerie.events.schema`) over LiveKit.

Server -> client: each event of the session's :class:`~causerie.events.EventChannel` is one JSON
data message on topic :data:`EVENTS_TOPIC` (reliable, in order). An event too large for one
data packet goes as a text stream on the same topic, so a big tool UI event is never cut.

Client -> server: RPC method :data:`CLIENT_RPC_METHOD` on the agent's participant, payload one
client event (``text``, ``mute``, ``interrupt``, ``ping``, ``client_action``), handled by the
conversation (:meth:`causerie.runtime.Conversation.handle_rpc`) as on every transport; the
reply is ``{"ok": true}`` or ``{"ok": false, "error": code, "message": ...}``. RPC, not data
messages, so a client learns whether the agent got it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from livekit import rtc

from ...events.schema import (
    encode,
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
