"""One real Causerie server for the whole test run, in a thread of the test process.

Starting the server loads the models (about 1 s); every server test shares it. Tests reach
into its event loop with :meth:`ServerThread.call` to count tasks and sessions. Also a small
WebSocket client that streams speech in real time, shared by the integration tests.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from causerie.audio.wav import PCM, write_wav
from tests.speech import conversation, speak

T = TypeVar("T")

FRAME = 320  # samples: 20 ms at 16 kHz
RATE = 16000


class ServerThread:
    def __init__(
        self,
        max_sessions: int = 8,
        agent_file: Path | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        """``agent_file``: the agent definition (default: the built-in agent), with
        ``overrides``."""
        import uvicorn

        from causerie.config.loader import load_config
        from causerie.providers.registry import Registry
        from causerie.server import ServerSettings, create_app
        from causerie.server.security import uvicorn_limits

        registry = Registry.from_entry_points()
        # Record into a throwaway store, not the developer's var/causerie.sqlite3.
        self.tmpdir = tempfile.TemporaryDirectory(prefix="causerie-test-")
        store = f"sqlite:///{self.tmpdir.name}/causerie.sqlite3"
        self.store_url = (overrides or {}).get("metrics.store_url", store)
        loaded = load_config(
            agent_file,
            dotenv=None,
            environ={},
            registry=registry,
            overrides={"metrics.store_url": store, **(overrides or {})},
        )
        self.settings = ServerSettings(
            host="127.0.0.1",
            port=0,
            max_sessions=max_sessions,
            connect_timeout=30.0,
            warm_sessions=2,  # tests open one or two at a time; 90 MB each
            session_rate_limit=100_000,  # every test connects from 127.0.0.1
        )
        self.app = create_app(self.settings, loaded=loaded, registry=registry)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        limits = uvicorn_limits(self.settings.max_header_bytes, self.settings.max_ws_message_bytes)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", **limits)
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="causerie-test-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    @property
    def manager(self) -> Any:
        return self.app.state.manager

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self, timeout: float = 60.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.tmpdir.cleanup()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run ``fn()`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(_call(fn), self.loop).result(timeout)

    def task_count(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # minus this one

        return self.call(count)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no session is open (closing takes a moment after the peer leaves)."""
        deadline = time.monotonic() + timeout
        while self.manager.active or self.manager.sessions():
            if time.monotonic() > deadline:
                raise AssertionError(f"sessions still open: {self.manager.snapshot()}")
            time.sleep(0.05)


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


_server: ServerThread | None = None
_lock = threading.Lock()


def shared_server() -> ServerThread:
    global _server
    with _lock:
        if _server is None:
            _server = ServerThread().start()
            asyncio.run(_warm_up(_server))
        return _server


async def _warm_up(server: ServerThread) -> None:
    """One utterance first: a fresh pocketsphinx decoder starts from default cepstral means
    and misrecognises its first utterance ("what to do" for "what can you do")."""
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready", keep_streaming=False)
        await c.stream(speech_frames("what can you do", lead=0.3))
        await c.wait_for(lambda e: e["type"] == "user_transcript" and e["final"], within=30)
    server.wait_idle()


def stop_shared_server() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None


def serve_shared() -> Iterator[ServerThread]:
    """Body of each module's session-scoped ``server`` fixture: the shared server, stopped
    at the end of the run, before the interpreter shuts down (its sessions use thread pools)."""
    yield shared_server()
    stop_shared_server()


def collect_garbage(server: ServerThread) -> None:
    """A full GC on the server's loop: livekit's streams hold big objects in reference
    cycles, so RSS is only comparable after one."""

    async def collect() -> None:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)

    server.call(collect)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


# -- speech -------------------------------------------------------------------------------


def speech_frames(text: str, lead: float = 1.0, tail: float = 1.5) -> list[bytes]:
    """``text`` spoken (16 kHz), with silence around it, as 640-byte frames."""
    pcm = np.concatenate(
        [
            np.zeros(int(lead * RATE), np.int16),
            speak(text, RATE),
            np.zeros(int(tail * RATE), np.int16),
        ]
    )
    pcm = np.pad(pcm, (0, -len(pcm) % FRAME))
    return [pcm[i : i + FRAME].tobytes() for i in range(0, len(pcm), FRAME)]


def write_fake_mic(
    path: Path, utterances: list[str], gap: float, lead: float = 1.0, tail: float = 30.0
) -> Path:
    """A WAV for chromium's fake microphone. Chromium loops the file: the long silent tail
    keeps the utterances from coming back during a test."""
    pcm = conversation(utterances, RATE, gap=gap, lead=lead)
    pcm = np.concatenate([pcm, np.zeros(int(tail * RATE), np.int16)])
    write_wav(path, PCM(pcm, RATE))
    return path


def audible(data: bytes, threshold: int = 300) -> bool:
    a = np.frombuffer(data, np.int16)
    return bool(len(a)) and int(np.abs(a).max()) > threshold


# -- a WebSocket client -------------------------------------------------------------------


@dataclass
class Received:
    at: float
    audible: bool


@dataclass
class WsClient:
    """Streams frames in real time and records what comes back, with wall times."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    audio: list[Received] = field(default_factory=list)
    last_audible_sent: float | None = None
    close_code: int | None = None
    close_reason: str = ""

    async def __aenter__(self) -> WsClient:
        import websockets

        self.ws = await websockets.connect(self.url, max_size=2**16)
        self._reader = asyncio.create_task(self._read(), name="test-ws-client.read")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self._reader

    async def _read(self) -> None:
        import websockets

        try:
            async for msg in self.ws:
                now = time.time()
                if isinstance(msg, bytes):
                    self.audio.append(Received(now, audible(msg)))
                else:
                    ev = json.loads(msg)
                    ev["_at"] = now
                    self.events.append(ev)
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.ws.close_code
        self.close_reason = self.ws.close_reason or ""

    async def stream(self, frames: list[bytes], speed: float = 1.0) -> None:
        start = time.monotonic()
        for i, frame in enumerate(frames):
            await self.ws.send(frame)
            if audible(frame):
                self.last_audible_sent = time.time()
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 / speed - time.monotonic()))

    async def silence(self, seconds: float) -> None:
        await self.stream([bytes(640)] * int(seconds / 0.02))

    async def wait_for(
        self,
        pred: Callable[[dict[str, Any]], bool],
        within: float = 30.0,
        keep_streaming: bool = True,
    ) -> dict[str, Any]:
        """The first event matching ``pred``; streams silence meanwhile (a live mic would)."""
        deadline = time.monotonic() + within
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if pred(ev):
                    return ev
            seen = len(self.events)
            if time.monotonic() > deadline:
                types = [e["type"] for e in self.events]
                raise AssertionError(f"no matching event in {within} s; got {types}")
            if keep_streaming:
                await self.silence(0.1)
            else:
                await asyncio.sleep(0.05)

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]


# -- a WebRTC client (aiortc), as a browser would connect ---------------------------------


class SpeechTrack:
    """Factory for an aiortc audio track that plays queued 16 kHz PCM in real time (48 kHz
    frames, as a browser sends), silence otherwise; records when the last loud frame left."""

    @staticmethod
    def create() -> Any:
        from fractions import Fraction

        from aiortc import MediaStreamTrack
        from av import AudioFrame

        class _Track(MediaStreamTrack):
            kind = "audio"

            def __init__(self) -> None:
                super().__init__()
                self.pending: list[np.ndarray] = []
                self.last_audible_sent: float | None = None
                self._pts = 0
                self._start: float | None = None

            def say(self, pcm16k: np.ndarray) -> None:
                up = np.repeat(pcm16k, 3)  # 16 -> 48 kHz; crude, enough for the STT after Opus
                up = np.pad(up, (0, -len(up) % 960))
                self.pending.extend(up[i : i + 960] for i in range(0, len(up), 960))

            async def recv(self) -> AudioFrame:
                if self._start is None:
                    self._start = time.monotonic()
                due = self._start + self._pts / 48000
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                chunk = self.pending.pop(0) if self.pending else np.zeros(960, np.int16)
                if audible(chunk.tobytes()):
                    self.last_audible_sent = time.time()
                frame = AudioFrame(format="s16", layout="mono", samples=960)
                frame.planes[0].update(chunk.astype(np.int16).tobytes())
                frame.sample_rate = 48000
                frame.pts = self._pts
                frame.time_base = Fraction(1, 48000)
                self._pts += 960
                return frame

        return _Track()


@dataclass
class RtcClient:
    """Offers over ``/api/offer``, speaks through a track, records the agent's track."""

    base_url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    audio: list[Received] = field(default_factory=list)

    async def __aenter__(self) -> RtcClient:
        import httpx
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from causerie.compat.aiortc import allow_loopback_candidates

        allow_loopback_candidates()
        self.pc = RTCPeerConnection()
        self.mic = SpeechTrack.create()
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("events")
        self.channel.on("message", self._on_message)
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer"}
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(self.base_url + "/api/offer", json=offer)
        self.status = r.status_code
        if r.status_code != 200:
            await self.pc.close()
            raise ConnectionRefusedError(r.json())
        await self.pc.setRemoteDescription(RTCSessionDescription(**r.json()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.pc.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_message(self, msg: str) -> None:
        ev = json.loads(msg)
        ev["_at"] = time.time()
        self.events.append(ev)

    def _on_track(self, track: Any) -> None:
        self._tasks.append(asyncio.create_task(self._read(track), name="test-rtc-client.read"))

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.audio.append(Received(time.time(), audible(frame.to_ndarray().tobytes())))

    async def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], within: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            for ev in self.events:
                if pred(ev):
                    return ev
            if time.monotonic() > deadline:
                types = [e["type"] for e in self.events]
                raise AssertionError(f"no matching event in {within} s; got {types}")
            await asyncio.sleep(0.05)

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]
