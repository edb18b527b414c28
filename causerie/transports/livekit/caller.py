"""``causerie call``: a user on the phone, from a WAV file.

Creates the room and dispatches the agent (server API), joins as a user, waits for the
agent's ``ready`` event, publishes the WAV as a microphone track at real-time pace, prints
the transcripts the agent sends (data messages), records the agent's audio track on the same
clock as the input, and writes it to a WAV. The room is deleted afterwards unless kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import api, rtc

from ...audio.wav import PCM
from ...errors import CauserieError
from .bridge import dispatch_request
from .data import EVENTS_TOPIC
from .server_api import livekit_api
from .settings import Credentials, LiveKitUnreachable
from .tokens import user_token

logger = logging.getLogger(__name__)

IN_RATE = 16000
OUT_RATE = 24000
FRAME_MS = 20
TOKEN_TTL = datetime.timedelta(minutes=30)
AGENT_KIND = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT

Printer = Callable[[str], None]


@dataclass(frozen=True)
class CallPlan:
    """Everything ``call`` will ask the server for, built without the network."""

    room: str
    identity: str
    agent_name: str
    """Empty: the worker uses automatic dispatch and joins every new room by itself."""
    empty_timeout: int = 60
    """Seconds LiveKit keeps the room once empty (if we die before deleting it)."""

    @classmethod
    def new(cls, room: str | None, identity: str | None, agent_name: str) -> CallPlan:
        suffix = uuid.uuid4().hex[:8]
        return cls(
            room=room or f"causerie-call-{suffix}",
            identity=identity or f"caller-{suffix}",
            agent_name=agent_name,
        )

    def room_request(self) -> api.CreateRoomRequest:
        return api.CreateRoomRequest(
            name=self.room, empty_timeout=self.empty_timeout, departure_timeout=10
        )

    def dispatch_request(self) -> api.CreateAgentDispatchRequest | None:
        if not self.agent_name:
            return None
        return dispatch_request(self.room, self.agent_name, participant_identity=self.identity)

    def token(self, creds: Credentials) -> str:
        # No dispatch in the token: the dispatch is made explicitly, before we join.
        return user_token(creds, room=self.room, identity=self.identity, ttl=TOKEN_TTL)


@dataclass
class CallResult:
    transcript: list[tuple[str, str]] = field(default_factory=list)
    """(role, text) of each final transcript, in order."""
    events: list[dict[str, Any]] = field(default_factory=list)
    output: PCM | None = None

    def texts(self, role: str) -> list[str]:
        return [t for r, t in self.transcript if r == role]


async def play(
    capture: Callable[[rtc.AudioFrame], Awaitable[None]], pcm: PCM, *, frame_ms: int = FRAME_MS
) -> float:
    """Feed ``pcm`` to ``capture`` in ``frame_ms`` frames at real-time pace (a clock, not the
    sink's back-pressure, sets the pace). Returns the seconds it took."""
    spf = pcm.sample_rate * frame_ms // 1000
    start = time.monotonic()
    next_at = start
    for i in range(0, len(pcm.samples), spf):
        chunk = pcm.samples[i : i + spf]
        if len(chunk) < spf:
            chunk = np.pad(chunk, (0, spf - len(chunk)))
        await capture(rtc.AudioFrame(chunk.astype(np.int16).tobytes(), pcm.sample_rate, 1, spf))
        next_at += frame_ms / 1000
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return time.monotonic() - start


class Timeline:
    """The agent's audio placed at its arrival time, relative to the start of the call."""

    def __init__(self, rate: int = OUT_RATE) -> None:
        self.rate = rate
        self.t0 = time.monotonic()
        self.chunks: list[tuple[int, np.ndarray]] = []

    def add(self, frame: rtc.AudioFrame) -> None:
        data = np.frombuffer(frame.data, dtype=np.int16).copy()
        self.chunks.append((int((time.monotonic() - self.t0) * self.rate) - len(data), data))

    def render(self) -> PCM:
        end = max([o + len(c) for o, c in self.chunks] + [0])
        out = np.zeros(max(end, 0), dtype=np.int16)
        cursor = 0
        for offset, chunk in self.chunks:
            start = max(offset, cursor)  # arrival jitter must not overlap consecutive frames
            out[start : start + len(chunk)] = chunk[: max(0, len(out) - start)]
            cursor = start + len(chunk)
        return PCM(out, self.rate)


class _Listener:
    """What the agent tells us: schema events from data messages (or text streams)."""

    def __init__(self, result: CallResult, printer: Printer) -> None:
        self.result = result
        self.printer = printer
        self.ready = asyncio.Event()
        self.changed = asyncio.Event()
        self.agent_state = "initializing"
        self.user_turns = 0
        self.replies = 0
        self.last_event_at = time.monotonic()

    def on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic == EVENTS_TOPIC:
            self.handle(packet.data.decode("utf-8", "replace"))

    def handle(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        self.result.events.append(event)
        self.last_event_at = time.monotonic()
        kind = event.get("type")
        if kind == "ready":
            self.ready.set()
        elif kind == "agent_state":
            self.agent_state = str(event.get("state"))
        elif kind == "user_transcript" and event.get("final"):
            self.user_turns += 1
            self._say("user", str(event.get("text", "")))
        elif kind == "agent_transcript" and event.get("final"):
            self.replies += 1
            self._say("agent", str(event.get("text", "")))
        elif kind == "error":
            self.printer(f"agent error: {event.get('code')}: {event.get('message')}")
        self.changed.set()

    def _say(self, role: str, text: str) -> None:
        self.result.transcript.append((role, text))
        self.printer(f"{role}: {text}")

    def settled(self, quiet: float) -> bool:
        """The agent answered every user turn and has been listening for ``quiet`` seconds."""
        return (
            self.agent_state in ("listening", "idle")
            and self.replies >= self.user_turns
            and time.monotonic() - self.last_event_at >= quiet
        )


async def call(
    creds: Credentials,
    plan: CallPlan,
    pcm: PCM,
    *,
    agent_timeout: float = 30.0,
    tail_timeout: float = 20.0,
    keep_room: bool = False,
    printer: Printer = print,
) -> CallResult:
    """Run the whole call; the room is deleted at the end unless ``keep_room``."""
    async with livekit_api(creds) as lkapi:
        await lkapi.room.create_room(plan.room_request())
        request = plan.dispatch_request()
        if request is not None:
            await lkapi.agent_dispatch.create_dispatch(request)
        try:
            return await _converse(creds, plan, pcm, agent_timeout, tail_timeout, printer)
        finally:
            if not keep_room:
                with contextlib.suppress(Exception):  # best effort: empty_timeout cleans up too
                    await lkapi.room.delete_room(api.DeleteRoomRequest(room=plan.room))


async def _converse(
    creds: Credentials,
    plan: CallPlan,
    pcm: PCM,
    agent_timeout: float,
    tail_timeout: float,
    printer: Printer,
) -> CallResult:
    result = CallResult()
    listener = _Listener(result, printer)
    timeline = Timeline()
    readers: set[asyncio.Task[None]] = set()
    room = rtc.Room()

    def spawn(coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        readers.add(task)
        task.add_done_callback(readers.discard)

    def on_track(
        track: rtc.Track, _pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant
    ) -> None:
        if p.kind == AGENT_KIND and track.kind == rtc.TrackKind.KIND_AUDIO:
            spawn(
                _record(rtc.AudioStream(track, sample_rate=OUT_RATE, num_channels=1), timeline),
                "call.record",
            )

    def on_text_stream(reader: rtc.TextStreamReader, _identity: str) -> None:
        async def read() -> None:
            listener.handle(await reader.read_all())

        spawn(read(), "call.text_stream")

    room.on("track_subscribed", on_track)
    room.on("data_received", listener.on_data)
    room.register_text_stream_handler(EVENTS_TOPIC, on_text_stream)
    try:
        await room.connect(
            creds.url, plan.token(creds), rtc.RoomOptions(auto_subscribe=True, connect_timeout=10.0)
        )
    except rtc.ConnectError as e:
        raise LiveKitUnreachable(creds.url, str(e)) from None
    try:
        timeline.t0 = time.monotonic()
        try:
            await asyncio.wait_for(listener.ready.wait(), agent_timeout)
        except TimeoutError:
            who = (
                f"worker {plan.agent_name!r}" if plan.agent_name else "an automatic-dispatch worker"
            )
            raise CauserieError(
                f"no agent in room {plan.room!r} after {agent_timeout:.0f} s: is `causerie worker` "
                f"running against this LiveKit server as {who}?"
            ) from None
        source = rtc.AudioSource(IN_RATE, 1)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
        await room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        await play(source.capture_frame, pcm)
        await _settle(listener, tail_timeout)
    finally:
        await room.disconnect()
        for t in list(readers):
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    result.output = timeline.render()
    return result


async def _record(stream: rtc.AudioStream, timeline: Timeline) -> None:
    try:
        async for ev in stream:
            timeline.add(ev.frame)
    finally:
        await stream.aclose()


async def _settle(listener: _Listener, tail_timeout: float, quiet: float = 1.5) -> None:
    """Wait for the agent to finish answering, at most ``tail_timeout`` seconds."""
    deadline = time.monotonic() + tail_timeout
    while not listener.settled(quiet) and time.monotonic() < deadline:
        listener.changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(listener.changed.wait(), 0.25)
