"""The transports of the contract test (tests/integration/test_transport_contract.py), each
as a peer: it sends client events the transport's way, speaks into a microphone that plays
silence in real time otherwise, and sees the events a client of that transport gets."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from livekit import rtc
from livekit.agents import JobProcess
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.voice import io

from causerie.config import load_config
from causerie.config.spec import MetricsSpec
from causerie.metrics.runtime import MetricsRuntime
from causerie.providers.registry import Registry
from causerie.runtime import Conversation, Runtime
from causerie.transports.audio_io import PacedAudioOutput, QueueAudioInput
from causerie.transports.livekit.data import CLIENT_RPC_METHOD, EVENTS_TOPIC
from causerie.transports.livekit.worker import RUNTIME_KEY, JobConfig, build_server, prewarm

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
SPF = RATE // 50  # 20 ms
Opened = AsyncIterator[tuple["Peer", Callable[[], Any]]]


def overrides(tmp: Path) -> dict[str, Any]:
    return {
        "metrics.store_url": f"sqlite:///{tmp}/causerie.sqlite3",
        "tool_options.data_dir": str(tmp),
    }


class Peer(Protocol):
    @property
    def events(self) -> list[dict[str, Any]]: ...

    async def send(self, event: dict[str, Any]) -> None: ...

    def say(self, pcm: np.ndarray) -> None:
        """Queue speech on the microphone (it plays silence otherwise, in real time)."""

    def speaking(self) -> bool:
        """Whether queued speech is still playing."""


def chunks(pcm: np.ndarray) -> list[np.ndarray]:
    pcm = np.pad(pcm, (0, -len(pcm) % SPF))
    return [pcm[i : i + SPF] for i in range(0, len(pcm), SPF)]


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
async def file_path(tmp: Path) -> Opened:
    registry = Registry.from_entry_points()
    loaded = load_config(ROOT / "shop.yaml", dotenv=None, environ={}, overrides=overrides(tmp))
    metrics = MetricsRuntime(MetricsSpec(store_url=loaded.spec.metrics.store_url))
    await metrics.start()
    runtime = await Runtime.build(loaded, registry, metrics=metrics)
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


@asynccontextmanager
async def ws_path(server: Any) -> Opened:
    peer = WsPeer(server.ws_url)
    task = asyncio.create_task(peer.run())
    try:
        await wait_for(peer, lambda e: e["type"] == "ready")
        yield peer, lambda: peer.events[0]["session_id"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def webrtc_path(server: Any) -> Opened:
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
    def events(self) -> list[dict[str, Any]]:
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
async def livekit_path(tmp: Path) -> Opened:
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
