"""The transport contract: one scripted conversation with the shop agent (shop.yaml) over
every transport gives the client the same events, the same cart and the same turn records.

Paths: file (talk's in-process audio I/O), WebSocket, WebRTC (aiortc client) and LiveKit
(livekit-agents' job simulation, client events through the RPC method the job registers).
The script: typed text, a click that adds to the cart, speech while muted (never heard),
speech after unmuting, and a barge-in while the agent answers it.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import JobProcess
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.voice import io

from causerie.config import load_config
from causerie.config.spec import MetricsSpec
from causerie.metrics.runtime import MetricsRuntime
from causerie.providers.registry import Registry
from causerie.runtime import Conversation, Runtime
from causerie.store import open_store
from causerie.transports.audio_io import PacedAudioOutput, QueueAudioInput
from causerie.transports.livekit.data import CLIENT_RPC_METHOD, EVENTS_TOPIC
from causerie.transports.livekit.worker import RUNTIME_KEY, JobConfig, build_server, prewarm
from tests.speech import speak

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
SPF = RATE // 50  # 20 ms
PRODUCT = "comte-18-mois"
TYPED = "do you have honey"
CLICK = {"type": "user_interaction", "action": "add_to_cart", "product_id": PRODUCT}


def overrides(tmp: Path) -> dict[str, Any]:
    return {
        "metrics.store_url": f"sqlite:///{tmp}/causerie.sqlite3",
        "tool_options.data_dir": str(tmp),
    }


# -- the script, the same for every transport ---------------------------------------------


class Peer(Protocol):
    events: list[dict[str, Any]]

    async def send(self, event: dict[str, Any]) -> None: ...

    def say(self, pcm: np.ndarray) -> None:
        """Queue speech on the microphone (it plays silence otherwise, in real time)."""

    def speaking(self) -> bool:
        """Whether queued speech is still playing."""


async def wait_for(
    peer: Peer, pred: Callable[[dict[str, Any]], bool], since: int = 0, within: float = 60.0
) -> int:
    """The index of the first event from ``since`` matching ``pred``."""
    deadline = time.monotonic() + within
    while True:
        for i, ev in enumerate(peer.events[since:], since):
            if pred(ev):
                return i
        if time.monotonic() > deadline:
            types = [e.get("type") for e in peer.events[since:]]
            raise AssertionError(f"no matching event in {within:.0f} s; got {types}")
        await asyncio.sleep(0.05)


def final_reply(e: dict[str, Any]) -> bool:
    return e["type"] == "agent_transcript" and bool(e.get("final"))


def listening(e: dict[str, Any]) -> bool:
    return e["type"] == "agent_state" and e["state"] == "listening"


def heard(e: dict[str, Any]) -> bool:
    return e["type"] == "user_transcript" and bool(e.get("final"))


async def answered(peer: Peer, since: int) -> int:
    """Until the agent has replied (after ``since``) and is listening again."""
    i = await wait_for(peer, final_reply, since)
    return await wait_for(peer, listening, i)


async def until_quiet(peer: Peer) -> None:
    deadline = time.monotonic() + 30
    while peer.speaking():
        assert time.monotonic() < deadline, "the microphone never played its speech"
        await asyncio.sleep(0.05)


async def converse(peer: Peer) -> dict[str, int]:
    """The scripted conversation; returns where each step starts in ``peer.events``."""
    marks: dict[str, int] = {}
    await answered(peer, 0)  # the greeting
    marks["text"] = len(peer.events)
    await peer.send({"type": "text", "text": TYPED})
    await answered(peer, marks["text"])
    marks["click"] = len(peer.events)
    await peer.send(CLICK)
    i = await wait_for(peer, lambda e: e["type"] == "cart_updated", marks["click"])
    await answered(peer, i)
    marks["muted"] = len(peer.events)
    await peer.send({"type": "mute", "muted": True})
    peer.say(speech("what can you do"))
    await until_quiet(peer)
    # The session heard silence: its VAD saw the "speech" end; the STT had nothing.
    await peer.send({"type": "ping", "id": 1})
    await wait_for(peer, lambda e: e["type"] == "pong", marks["muted"])
    await peer.send({"type": "mute", "muted": False})
    marks["unmuted"] = len(peer.events)
    peer.say(speech("what can you do"))
    i = await wait_for(peer, heard, marks["unmuted"])
    i = await wait_for(peer, lambda e: e["type"] == "agent_state" and e["state"] == "speaking", i)
    marks["barge_in"] = i
    peer.say(speech("who are you"))  # over the agent's answer
    i = await wait_for(peer, lambda e: e["type"] == "interrupted", i)
    i = await wait_for(peer, heard, i)  # the words that cut in get their own answer
    await answered(peer, i)
    marks["end"] = len(peer.events)
    return marks


def speech(text: str) -> np.ndarray:
    return np.concatenate([speak(text, RATE), np.zeros(RATE // 2, np.int16)])


def chunks(pcm: np.ndarray) -> list[np.ndarray]:
    pcm = np.pad(pcm, (0, -len(pcm) % SPF))
    return [pcm[i : i + SPF] for i in range(0, len(pcm), SPF)]


# -- what is compared ---------------------------------------------------------------------

MILESTONES = ("cart_updated", "interrupted", "pong")


def outcome(peer: Peer, marks: dict[str, int]) -> dict[str, Any]:
    ev = [{k: v for k, v in e.items() if k not in ("ts", "_at")} for e in peer.events]
    muted = ev[marks["muted"] : marks["unmuted"]]
    carts = [e for e in ev if e["type"] == "cart_updated"]
    return {
        "types": sorted({e["type"] for e in ev} - {"ready"}),
        "milestones": [
            e["type"] if e["type"] != "user_transcript" else "heard"
            for e in ev
            if e["type"] in MILESTONES or heard(e)
        ],
        "heard_while_muted": [e for e in muted if heard(e)],
        "cart": {k: carts[-1].get(k) for k in ("items", "total", "item_count")} if carts else None,
    }


async def turns_of(store_url: str, session_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        async with open_store(store_url) as store:
            record = await store.get_session(session_id)
        if record is not None and record.ended_at is not None:
            break
        assert time.monotonic() < deadline, f"session {session_id} never ended in the store"
        await asyncio.sleep(0.2)
    return [
        {
            "typed": t.user_text == TYPED,
            "spoken": bool(t.user_text) and t.user_text != TYPED,
            "interrupted": t.interrupted,
            "tools": [c.name for c in t.tool_calls],
        }
        for t in record.turns
    ]


# -- the transports -----------------------------------------------------------------------


class LocalPeer:
    """The file transport's parts (``causerie talk``): in-process audio I/O."""

    def __init__(self, conversation: Conversation, mic: QueueAudioInput) -> None:
        self.conversation = conversation
        self.events = conversation_events(conversation)
        self.mic = mic
        self.pending: deque[np.ndarray] = deque()

    async def send(self, event: dict[str, Any]) -> None:
        self.conversation.handle_client_event(json.dumps(event))

    def say(self, pcm: np.ndarray) -> None:
        self.pending.extend(chunks(pcm))

    def speaking(self) -> bool:
        return bool(self.pending)

    async def play(self) -> None:
        clock = time.monotonic()
        while True:
            chunk = self.pending.popleft() if self.pending else np.zeros(SPF, np.int16)
            self.mic.push(rtc.AudioFrame(chunk.tobytes(), RATE, 1, SPF))
            clock += 0.02
            await asyncio.sleep(max(0.0, clock - time.monotonic()))


def conversation_events(conversation: Conversation) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    conversation.events.subscribe(out.append)
    return out


@asynccontextmanager
async def file_path(tmp: Path) -> AsyncIterator[tuple[Peer, Callable[[], Any]]]:
    registry = Registry.from_entry_points()
    loaded = load_config(ROOT / "shop.yaml", dotenv=None, environ={}, overrides=overrides(tmp))
    metrics = MetricsRuntime(MetricsSpec(store_url=loaded.spec.metrics.store_url))
    await metrics.start()
    runtime = await Runtime.build(loaded, registry, session_hooks=[metrics.session_hook])
    mic = QueueAudioInput(max_seconds=60.0)
    out = PacedAudioOutput(lambda frame: None, sample_rate=24000)
    conversation = Conversation(runtime, transport="cli", audio_in=mic, audio_out=out)
    peer = LocalPeer(conversation, mic)
    conversation.run_hooks()
    await conversation.start()
    player = asyncio.create_task(peer.play())
    try:
        yield peer, lambda: conversation.session_id
    finally:
        player.cancel()
        await conversation.aclose()
        await out.aclose()
        await runtime.aclose()
        await metrics.aclose()


class WsPeer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.pending: deque[np.ndarray] = deque()

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    def say(self, pcm: np.ndarray) -> None:
        self.pending.extend(chunks(pcm))

    def speaking(self) -> bool:
        return bool(self.pending)

    async def run(self) -> None:
        import websockets

        async with websockets.connect(self.url, max_size=2**16) as self.ws:
            reader = asyncio.create_task(self._read())
            clock = time.monotonic()
            try:
                while True:
                    chunk = self.pending.popleft() if self.pending else np.zeros(SPF, np.int16)
                    await self.ws.send(chunk.tobytes())
                    clock += 0.02
                    await asyncio.sleep(max(0.0, clock - time.monotonic()))
            finally:
                reader.cancel()

    async def _read(self) -> None:
        async for msg in self.ws:
            if isinstance(msg, str):
                self.events.append(json.loads(msg))


class RtcPeer:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.events = client.events

    async def send(self, event: dict[str, Any]) -> None:
        self.client.channel.send(json.dumps(event))

    def say(self, pcm: np.ndarray) -> None:
        self.client.mic.say(pcm)

    def speaking(self) -> bool:
        return bool(self.client.mic.pending)


@pytest.fixture(scope="module")
def shop_server() -> Any:
    from tests.e2e.harness import ServerThread

    with tempfile.TemporaryDirectory(prefix="causerie-contract-") as tmp:
        server = ServerThread(config=ROOT / "shop.yaml", overrides=overrides(Path(tmp))).start()
        try:
            yield server
        finally:
            server.stop()


@asynccontextmanager
async def ws_path(server: Any) -> AsyncIterator[tuple[Peer, Callable[[], Any]]]:
    peer = WsPeer(server.ws_url)
    task = asyncio.create_task(peer.run())
    try:
        await wait_for(peer, lambda e: e["type"] == "ready")
        yield peer, lambda: peer.events[0]["session_id"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def webrtc_path(server: Any) -> AsyncIterator[tuple[Peer, Callable[[], Any]]]:
    from tests.e2e.harness import RtcClient

    async with RtcClient(server.url) as client:
        peer = RtcPeer(client)
        await wait_for(peer, lambda e: e["type"] == "ready")
        yield peer, lambda: peer.events[0]["session_id"]


class ThreadMic(io.AudioInput):
    """A microphone for the job's thread: plays queued 20 ms chunks in real time."""

    def __init__(self, pending: deque[np.ndarray]) -> None:
        super().__init__(label="contract-mic")
        self.pending = pending
        self._clock: float | None = None

    async def __anext__(self) -> rtc.AudioFrame:
        now = time.monotonic()
        self._clock = now if self._clock is None else self._clock + 0.02
        await asyncio.sleep(max(0.0, self._clock - now))
        chunk = self.pending.popleft() if self.pending else np.zeros(SPF, np.int16)
        return rtc.AudioFrame(chunk.tobytes(), RATE, 1, SPF)


class LiveKitPeer:
    """Events as the room's data messages; client events through the RPC method."""

    def __init__(self, room: Any, since: int) -> None:
        self.room = room
        self.since = since
        self.pending: deque[np.ndarray] = deque()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._events: list[dict[str, Any]] = []

    @property
    def events(self) -> list[dict[str, Any]]:  # type: ignore[override]
        calls = self.room.local_participant.publish_data.call_args_list[self.since :]
        fresh = [json.loads(c.args[0]) for c in calls if c.kwargs.get("topic") == EVENTS_TOPIC]
        self._events = fresh
        return fresh

    async def send(self, event: dict[str, Any]) -> None:
        registered = self.room.local_participant.register_rpc_method.call_args_list
        handler = next(c.args[1] for c in reversed(registered) if c.args[0] == CLIENT_RPC_METHOD)
        data = rtc.RpcInvocationData("req", "user", json.dumps(event), 5.0)
        assert self.loop is not None
        fut = asyncio.run_coroutine_threadsafe(handler(data), self.loop)
        reply = json.loads(await asyncio.wrap_future(fut))
        assert reply == {"ok": True}, reply

    def say(self, pcm: np.ndarray) -> None:
        self.pending.extend(chunks(pcm))

    def speaking(self) -> bool:
        return bool(self.pending)


@asynccontextmanager
async def livekit_path(tmp: Path) -> AsyncIterator[tuple[Peer, Callable[[], Any]]]:
    from pydantic import SecretStr

    from causerie.transports.livekit.settings import Credentials, WorkerSettings
    from tests.integration.test_livekit_worker import closed_port, leave

    job = JobConfig(config_path=str(ROOT / "shop.yaml"), overrides=overrides(tmp))
    room = create_mock_room()
    peer = LiveKitPeer(room, len(room.local_participant.publish_data.call_args_list))
    prewarmed: list[Any] = []

    def setup(proc: JobProcess) -> None:
        prewarm(job, proc)
        runtime = proc.userdata[RUNTIME_KEY]
        runtime.io_factory = lambda _: (
            ThreadMic(peer.pending),
            PacedAudioOutput(lambda frame: None, sample_rate=24000),
        )
        runtime.session_hooks.append(lambda _: setattr(peer, "loop", asyncio.get_running_loop()))
        prewarmed.append(runtime)

    creds = Credentials(f"ws://127.0.0.1:{closed_port()}", "devkey", SecretStr("secret"))
    settings = WorkerSettings(executor="thread", idle_processes=1, health_port=0, max_retry=0)
    server = build_server(creds, settings, job, agent_name="causerie", setup=setup)
    started = asyncio.Event()
    server.on("worker_started", started.set)
    run = asyncio.create_task(server.run(devmode=True, unregistered=True))
    try:
        await asyncio.wait_for(started.wait(), 60)
        deadline = time.monotonic() + 60
        while not prewarmed:
            assert time.monotonic() < deadline, "the job process never prewarmed"
            await asyncio.sleep(0.05)
        await server.simulate_job("contract-room", fake_job=True)
        await wait_for(peer, lambda e: e["type"] == "ready")
        sid = next(e for e in peer.events if e["type"] == "ready")["session_id"]
        yield peer, lambda: sid
        assert peer.loop is not None
        leave(room, peer.loop)
        deadline = time.monotonic() + 30
        while server.active_jobs:
            assert time.monotonic() < deadline, "the job never ended"
            await asyncio.sleep(0.05)
    finally:
        await server.aclose()
        await asyncio.wait_for(run, 30)


# -- the test -----------------------------------------------------------------------------


async def run_over(path: str, tmp: Path, server: Any) -> dict[str, Any]:
    opened = {
        "file": lambda: file_path(tmp),
        "websocket": lambda: ws_path(server),
        "webrtc": lambda: webrtc_path(server),
        "livekit": lambda: livekit_path(tmp),
    }[path]()
    async with opened as (peer, session_id):
        marks = await converse(peer)
        result = outcome(peer, marks)
        sid = session_id()
    served = path in ("websocket", "webrtc")
    store_url = server.store_url if served else overrides(tmp)["metrics.store_url"]
    result["turns"] = await turns_of(store_url, sid)
    return result


async def test_every_transport_keeps_the_contract(shop_server: Any, tmp_path: Path) -> None:
    results: dict[str, dict[str, Any]] = {}
    for path in ("file", "websocket", "webrtc", "livekit"):
        tmp = tmp_path / path
        tmp.mkdir()
        results[path] = await run_over(path, tmp, shop_server)

    reference = results["file"]
    # The script's own facts, on the reference path.
    assert reference["cart"] is not None and reference["cart"]["item_count"] == 1
    assert [i.get("product_id") for i in reference["cart"]["items"]] == [PRODUCT]
    assert reference["heard_while_muted"] == []
    assert reference["milestones"][:2] == ["cart_updated", "pong"]
    assert "interrupted" in reference["milestones"]
    assert any(t["typed"] for t in reference["turns"])
    assert any(t["interrupted"] and t["spoken"] for t in reference["turns"])
    # Every transport: the same events, cart and turn records.
    for path, got in results.items():
        for key in ("types", "milestones", "heard_while_muted", "cart", "turns"):
            assert got[key] == reference[key], f"{path}: {key} differs from the file path"
