"""One conversation in a LiveKit room, shared by the worker's jobs and ``causerie join --direct``.

The conversation is the one every transport runs (:class:`causerie.runtime.Conversation`,
client events included: the RPC method goes to its handler); only its I/O differs: RoomIO
(the room's tracks) here, or custom audio I/O given by :attr:`Runtime.io_factory` (job
simulation in tests).

It ends when the last human participant leaves (tracked from room events), when the session
closes, when the room disconnects, or when nobody joins within ``join_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit import rtc
from livekit.agents.types import NOT_GIVEN
from livekit.agents.voice import AgentSession, room_io

from ...agent.faults import Faults
from ...runtime import Conversation, Runtime
from ...runtime.runtime import IOFactory, ToolsFactory
from ...userdata import SessionData
from .data import CLIENT_RPC_METHOD, EventPublisher

logger = logging.getLogger(__name__)

IN_RATE = 16000
"""The room's audio is resampled once, to the rate the VAD and STT work at."""

SessionHook = Callable[["RoomSession"], None]
"""Called with each conversation before its session starts, in the task that starts it (a
metrics collector attaches here; it may add to ``on_end``)."""
HUMAN_KINDS = (
    rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
    rtc.ParticipantKind.PARTICIPANT_KIND_SIP,
)


AgentRuntime = Runtime
"""The process's runtime (the worker's prewarm builds it); the name LiveKit code knew."""
__all__ = ["AgentRuntime", "IOFactory", "RoomSession", "SessionHook", "ToolsFactory"]


class ParticipantTracker:
    """The humans in the room, kept from ``participant_connected`` / ``participant_disconnected``
    events: seeded once when attached, never re-read from a participant list later."""

    def __init__(self, room: rtc.Room) -> None:
        self._room = room
        self.humans: dict[str, str] = {}
        """identity -> sid"""
        self.seen_any = False
        self.changed = asyncio.Event()
        self.on_join: Callable[[str], None] | None = None

    def attach(self) -> None:
        # Subscribe first, then seed: a join between the two is seen twice (harmless), never lost.
        self._room.on("participant_connected", self._joined)
        self._room.on("participant_disconnected", self._left)
        for p in list(self._room.remote_participants.values()):
            self._add(p)

    def detach(self) -> None:
        self._room.off("participant_connected", self._joined)
        self._room.off("participant_disconnected", self._left)

    @property
    def all_left(self) -> bool:
        return self.seen_any and not self.humans

    def _add(self, p: rtc.RemoteParticipant) -> bool:
        if p.kind not in HUMAN_KINDS or p.identity in self.humans:
            return False
        self.humans[p.identity] = p.sid
        self.seen_any = True
        self.changed.set()
        return True

    def _joined(self, p: rtc.RemoteParticipant) -> None:
        if self._add(p) and self.on_join is not None:
            self.on_join(p.identity)

    def _left(self, p: rtc.RemoteParticipant) -> None:
        if self.humans.pop(p.identity, None) is not None:
            logger.info("participant %s left (%d left in the room)", p.identity, len(self.humans))
            self.changed.set()


@dataclass
class RoomSession:
    """Build with :meth:`create`, then :meth:`run` once; ``run`` always cleans up."""

    room: rtc.Room
    runtime: Runtime
    conversation: Conversation
    participant_identity: str | None = None
    hooks: list[SessionHook] = field(default_factory=list)
    """This conversation's own hooks, run after the runtime's."""
    ended_reason: str = ""

    @classmethod
    def create(
        cls,
        room: rtc.Room,
        runtime: Runtime,
        *,
        participant_identity: str | None = None,
        hooks: list[SessionHook] | None = None,
    ) -> RoomSession:
        conversation = Conversation(runtime, transport="livekit", identity=participant_identity)
        if runtime.io_factory is not None:
            conversation.use_audio(*runtime.io_factory(conversation.userdata))
        return cls(room, runtime, conversation, participant_identity, hooks or [])

    @property
    def userdata(self) -> SessionData:
        return self.conversation.userdata

    @property
    def session(self) -> AgentSession[SessionData]:
        return self.conversation.session

    @property
    def agent(self) -> Any:
        return self.conversation.agent

    @property
    def faults(self) -> Faults:
        return self.conversation.faults

    @property
    def on_end(self) -> list[Callable[[str], None]]:
        """Called with the reason the conversation ended, before the session closes."""
        return self.conversation.on_end

    @property
    def session_id(self) -> str:
        return self.userdata.session_id

    @property
    def transport(self) -> str:
        return "livekit"

    @property
    def agent_name(self) -> str:
        return self.runtime.loaded.spec.name

    def ready_event(self) -> dict[str, Any]:
        return {
            "type": "ready",
            "session_id": self.session_id,
            "transport": self.transport,
            "agent_name": self.agent_name,
            "sample_rate": 48000,  # Opus over WebRTC; nothing is framed by us
            "frame_bytes": 0,
        }

    async def run(self, *, join_timeout: float = 120.0) -> str:
        """Run until the conversation ends; returns why: ``participant_left``,
        ``session_closed``, ``room_disconnected`` or ``no_participant`` (``on_end`` hooks
        also see ``cancelled`` and ``error``)."""
        events = self.userdata.events
        conversation = self.conversation
        publisher = EventPublisher(self.room.local_participant)
        tracker = ParticipantTracker(self.room)
        wake = tracker.changed
        closed = {"session": False, "room": False}

        def on_close(_: Any) -> None:
            closed["session"] = True
            wake.set()

        def on_room_disconnected(*_: Any) -> None:
            closed["room"] = True
            wake.set()

        def on_join(identity: str) -> None:
            if self.userdata.identity is None:
                self.userdata.identity = identity
            publisher.publish({**self.ready_event(), "ts": time.time()}, to=[identity])

        unsubscribe = events.subscribe(publisher.publish)
        self.room.local_participant.register_rpc_method(CLIENT_RPC_METHOD, conversation.handle_rpc)
        self.room.on("disconnected", on_room_disconnected)
        self.session.on("close", on_close)
        try:
            publisher.start()
            tracker.attach()
            if self.userdata.identity is None and tracker.humans:
                self.userdata.identity = next(iter(tracker.humans))
            tracker.on_join = on_join
            conversation.run_hooks(self, self.hooks)
            await conversation.start(room=self.room, room_options=self._room_options())
            events.emit(**self.ready_event())
            self.ended_reason = await self._wait_end(tracker, closed, join_timeout)
            logger.info("session %s ended: %s", self.userdata.session_id, self.ended_reason)
            return self.ended_reason
        except asyncio.CancelledError:
            self.ended_reason = self.ended_reason or "cancelled"
            raise
        except Exception:
            self.ended_reason = "error"
            raise
        finally:
            for cb in self.on_end:
                try:
                    cb(self.ended_reason)
                except Exception:
                    logger.exception("end hook failed")
            tracker.detach()
            self.room.off("disconnected", on_room_disconnected)
            self.session.off("close", on_close)
            try:
                await conversation.aclose()
            finally:
                await publisher.aclose()
                unsubscribe()
                _unregister_rpc(self.room)

    def _room_options(self) -> room_io.RoomOptions:
        custom = self.runtime.io_factory is not None
        return room_io.RoomOptions(
            audio_input=False if custom else room_io.AudioInputOptions(sample_rate=IN_RATE),
            audio_output=not custom,
            text_output=room_io.TextOutputOptions(
                next_in_chain=self.conversation.mapper.text_output
            ),
            participant_identity=self.participant_identity or NOT_GIVEN,
            # Ending on departure is ours (ParticipantTracker): one owner for that decision.
            close_on_disconnect=False,
        )

    async def _wait_end(
        self, tracker: ParticipantTracker, closed: dict[str, bool], join_timeout: float
    ) -> str:
        deadline = time.monotonic() + join_timeout
        while True:
            if closed["session"]:
                return "session_closed"
            if closed["room"]:
                return "room_disconnected"
            if tracker.all_left:
                return "participant_left"
            tracker.changed.clear()
            if not tracker.seen_any:
                left = deadline - time.monotonic()
                if left <= 0:
                    return "no_participant"
                try:
                    await asyncio.wait_for(tracker.changed.wait(), left)
                except TimeoutError:
                    continue
            else:
                await tracker.changed.wait()


def _unregister_rpc(room: rtc.Room) -> None:
    try:
        room.local_participant.unregister_rpc_method(CLIENT_RPC_METHOD)
    except Exception as e:  # the room's FFI handle is gone after a disconnect
        logger.debug("unregister_rpc_method: %s", e)
