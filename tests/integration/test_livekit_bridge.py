"""LiveKit mode up to the network boundary, without a LiveKit server: the requests ``join`` and
``call`` send, the events that go over data messages and RPC, participant tracking, pacing,
and clear errors when the server cannot be reached."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import numpy as np
import pytest
from livekit import api, rtc
from livekit.agents import utils
from pydantic import SecretStr

from causerie.audio.wav import PCM
from causerie.config import load_config
from causerie.events.channel import EventChannel
from causerie.events.schema import validate_server_event
from causerie.providers.registry import Registry
from causerie.runtime import Conversation, Runtime
from causerie.transports.livekit import room_session
from causerie.transports.livekit.bridge import dispatch, dispatch_request, join_direct
from causerie.transports.livekit.caller import CallPlan, Timeline, _Listener, call, play
from causerie.transports.livekit.data import (
    EVENTS_TOPIC,
    MAX_PACKET_BYTES,
    EventPublisher,
)
from causerie.transports.livekit.room_session import AgentRuntime, ParticipantTracker
from causerie.transports.livekit.settings import Credentials, LiveKitUnreachable
from causerie.transports.livekit.worker import participant_from_metadata

KEY, SECRET = "devkey", "bridge-secret-bridge-secret-bridge-secret"


def closed_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"ws://127.0.0.1:{port}"


# -- requests ---------------------------------------------------------------------------


def test_dispatch_request_names_agent_room_and_participant() -> None:
    req = dispatch_request("shop-1", "causerie", participant_identity="alice")
    assert isinstance(req, api.CreateAgentDispatchRequest)
    assert req.agent_name == "causerie" and req.room == "shop-1"
    assert json.loads(req.metadata) == {"participant_identity": "alice"}
    assert participant_from_metadata(req.metadata) == "alice"
    assert dispatch_request("r", "a").metadata == ""


@pytest.mark.parametrize(
    "metadata",
    ["", "not json", "[1]", '{"participant_identity": 3}', '{"participant_identity": "bad name"}'],
)
def test_worker_ignores_bad_dispatch_metadata(metadata: str) -> None:
    assert participant_from_metadata(metadata) is None


def test_call_plan_builds_room_dispatch_and_token() -> None:
    plan = CallPlan.new("call-1", "bob", "causerie")
    room = plan.room_request()
    assert isinstance(room, api.CreateRoomRequest)
    assert room.name == "call-1" and room.empty_timeout == 60 and room.departure_timeout == 10
    d = plan.dispatch_request()
    assert d is not None and d.room == "call-1" and d.agent_name == "causerie"
    assert json.loads(d.metadata)["participant_identity"] == "bob"
    creds = Credentials("ws://x", KEY, SecretStr(SECRET))
    claims = api.TokenVerifier(KEY, SECRET).verify(plan.token(creds))
    assert claims.identity == "bob" and claims.video is not None and claims.video.room == "call-1"
    assert claims.room_config is None  # dispatched explicitly, not through the token
    auto = CallPlan.new(None, None, "")
    assert auto.dispatch_request() is None
    assert auto.room.startswith("causerie-call-") and auto.identity.startswith("caller-")


# -- unreachable server -------------------------------------------------------------------


async def test_dispatch_to_an_unreachable_server() -> None:
    creds = Credentials(closed_url(), KEY, SecretStr(SECRET))
    with pytest.raises(LiveKitUnreachable) as err:
        await dispatch(creds, "r", "causerie")
    msg = str(err.value)
    assert creds.url in msg and "refused" in msg and SECRET not in msg


async def test_direct_join_to_an_unreachable_server() -> None:
    creds = Credentials(closed_url(), KEY, SecretStr(SECRET))
    runtime = AgentRuntime(loaded=load_config(None, dotenv=None, environ={}), pipeline=None)  # type: ignore[arg-type]
    with pytest.raises(LiveKitUnreachable, match="refused"):
        await join_direct(creds, "r", runtime)


async def test_call_to_an_unreachable_server() -> None:
    creds = Credentials(closed_url(), KEY, SecretStr(SECRET))
    pcm = PCM(np.zeros(1600, np.int16), 16000)
    with pytest.raises(LiveKitUnreachable) as err:
        await asyncio.wait_for(call(creds, CallPlan.new("r", "u", "causerie"), pcm), 60)
    assert creds.url in str(err.value)


async def test_joining_the_room_of_an_unreachable_server() -> None:
    from causerie.transports.livekit.caller import _converse

    creds = Credentials(closed_url(), KEY, SecretStr(SECRET))
    pcm = PCM(np.zeros(1600, np.int16), 16000)
    with pytest.raises(LiveKitUnreachable, match=r"(?i)refused"):
        await _converse(creds, CallPlan.new("r", "u", ""), pcm, 1.0, 1.0, print)


# -- audio pacing and recording -----------------------------------------------------------


async def test_play_paces_frames_in_real_time() -> None:
    got: list[tuple[float, rtc.AudioFrame]] = []

    async def sink(frame: rtc.AudioFrame) -> None:
        got.append((time.monotonic(), frame))

    pcm = PCM(np.arange(16000 // 2 + 100, dtype=np.int16), 16000)  # 0.5 s and a bit
    took = await play(sink, pcm)
    assert len(got) == 26 and all(f.samples_per_channel == 320 for _, f in got)
    # Real time, not a burst (a loaded machine can only make it slower).
    assert took >= 0.5
    assert got[-1][0] - got[0][0] >= 0.48
    tail = np.frombuffer(got[-1][1].data, np.int16)
    assert tail[:100].tolist() == list(range(8000, 8100)) and not tail[100:].any()


def test_timeline_places_frames_at_arrival() -> None:
    tl = Timeline(rate=1000)
    tl.t0 = time.monotonic() - 1.0  # as if the call started a second ago
    tl.add(rtc.AudioFrame(np.ones(100, np.int16).tobytes(), 1000, 1, 100))
    out = tl.render()
    # Placed at its arrival, about 1 s in (later if this test was descheduled meanwhile).
    assert out.sample_rate == 1000 and len(out.samples) >= 950
    assert not out.samples[:850].any() and out.samples[-100:].all()


def test_listener_prints_final_transcripts_and_settles() -> None:
    from causerie.transports.livekit.caller import CallResult

    lines: list[str] = []
    result = CallResult()
    listener = _Listener(result, lines.append)
    for ev in (
        {"type": "ready"},
        {"type": "user_transcript", "text": "who are", "final": False},
        {"type": "user_transcript", "text": "who are you", "final": True},
        {"type": "agent_state", "state": "speaking"},
        {"type": "agent_transcript", "text": "I am Causerie.", "final": True},
    ):
        listener.handle(json.dumps(ev))
    listener.handle("garbage")
    assert listener.ready.is_set()
    assert lines == ["user: who are you", "agent: I am Causerie."]
    assert result.texts("agent") == ["I am Causerie."]
    assert not listener.settled(0.0)  # still speaking
    listener.handle(json.dumps({"type": "agent_state", "state": "listening"}))
    assert listener.settled(0.0) and not listener.settled(60.0)


# -- events over data messages ------------------------------------------------------------


class FakeParticipant:
    """Records what would go to the room; fails on demand."""

    def __init__(self, fail_first: int = 0) -> None:
        self.packets: list[tuple[str, str, list[str]]] = []
        self.streams: list[tuple[str, str]] = []
        self.fail_first = fail_first

    async def publish_data(
        self, payload: str, *, reliable: bool, topic: str, destination_identities: list[str]
    ) -> None:
        await asyncio.sleep(0)
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("room gone")
        assert reliable
        self.packets.append((topic, payload, destination_identities))

    async def send_text(
        self, text: str, *, topic: str, destination_identities: list[str] | None
    ) -> None:
        self.streams.append((topic, text))


async def test_publisher_sends_in_order_and_big_events_as_streams() -> None:
    lp = FakeParticipant(fail_first=1)
    pub = EventPublisher(lp)  # type: ignore[arg-type]
    pub.start()
    channel = EventChannel()
    channel.subscribe(pub.publish)
    channel.emit("lost")  # the room refuses this one: logged, counted, the task goes on
    for i in range(5):
        channel.emit("agent_state", state="listening", i=i)
    channel.emit("product_list", items=["x" * 100] * (MAX_PACKET_BYTES // 100))
    pub.publish({"type": "ready"}, to=["alice"])
    await pub.aclose()
    assert pub.failed == 1 and pub.sent == 7
    assert [json.loads(p)["i"] for t, p, _ in lp.packets[:5]] == [0, 1, 2, 3, 4]
    assert all(t == EVENTS_TOPIC for t, _, _ in lp.packets)
    assert lp.packets[-1][2] == ["alice"]
    assert len(lp.streams) == 1 and json.loads(lp.streams[0][1])["type"] == "product_list"


async def test_publisher_is_bounded() -> None:
    lp = FakeParticipant()
    pub = EventPublisher(lp, max_pending=10)  # type: ignore[arg-type]
    for i in range(50):  # not started: nothing drains
        pub.publish({"type": "x", "i": i})
    assert pub.dropped == 40
    pub.start()
    await pub.aclose()
    assert [json.loads(p)["i"] for _, p, _ in lp.packets] == list(range(40, 50))


async def test_session_events_and_client_events_over_a_text_session() -> None:
    """Client events (as RPC payloads) drive a real offline session; its events come out in
    the schema, with per-turn metrics."""
    registry = Registry.from_entry_points()
    loaded = load_config(None, environ={}, dotenv=None, registry=registry)
    runtime = await Runtime.build(loaded, registry, stages=("llm",))
    conversation = Conversation(runtime, transport="livekit")
    events: list[dict[str, Any]] = []
    channel = conversation.events
    channel.subscribe(events.append)
    await conversation.start()
    try:
        assert conversation.handle_client_event('{"type": "ping", "id": 7}') == {"ok": True}
        bad = conversation.handle_client_event('{"type": "dance"}')
        assert bad["ok"] is False and bad["error"] == "unknown_event"
        rpc = rtc.RpcInvocationData(
            "req-1", "alice", '{"type": "text", "text": "who are you"}', 5.0
        )
        done = asyncio.Event()
        channel.subscribe(lambda e: done.set() if e["type"] == "turn_metrics" else None)
        assert json.loads(await conversation.handle_rpc(rpc)) == {"ok": True}
        await asyncio.wait_for(done.wait(), 60)
    finally:
        await conversation.aclose()
        await runtime.aclose()
    kinds = [e["type"] for e in events]
    assert "pong" in kinds and "error" in kinds and "agent_state" in kinds
    reply = next(e for e in events if e["type"] == "agent_transcript" and e["final"])
    assert "Causerie" in reply["text"]
    for e in events:
        validate_server_event(e)


def test_the_room_session_is_the_shared_one() -> None:
    # Share, don't copy: the LiveKit path runs the conversation every transport runs.
    assert room_session.Conversation is Conversation
    assert room_session.AgentRuntime is Runtime


# -- participants -------------------------------------------------------------------------


class FakeRoom(utils.EventEmitter[str]):
    def __init__(self, participants: list[Any]) -> None:
        super().__init__()
        self.remote_participants = {p.identity: p for p in participants}


class P:
    def __init__(
        self, identity: str, kind: int = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    ) -> None:
        self.identity, self.kind, self.sid = identity, kind, f"PA_{identity}"


def test_tracker_follows_events_not_a_stale_list() -> None:
    alice, bot = P("alice"), P("other-agent", rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)
    room = FakeRoom([alice, bot])
    tracker = ParticipantTracker(room)  # type: ignore[arg-type]
    joined: list[str] = []
    tracker.attach()
    tracker.on_join = joined.append
    assert tracker.humans == {"alice": "PA_alice"} and not tracker.all_left
    bob = P("bob")
    room.emit("participant_connected", bob)
    room.emit("participant_connected", bob)  # twice: counted once
    assert joined == ["bob"]
    room.emit("participant_disconnected", alice)
    assert not tracker.all_left
    # The list still says alice is here; the events say otherwise, and they win.
    room.emit("participant_disconnected", bob)
    assert tracker.all_left and "alice" in room.remote_participants
    tracker.detach()
    room.emit("participant_connected", P("carol"))
    assert tracker.all_left
