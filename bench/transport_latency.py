"""Voice-to-voice latency through ``causerie serve``, as a client hears it, per transport.

A real server runs in its own process (``python -m causerie serve``). Clients speak espeak
utterances in real time and time the reply:

* WebSocket, Python client: last audible frame sent -> first audible frame received, plus
  the web page's 40 ms playback pre-buffer (what a listener would hear).
* WebRTC, aiortc client: last audible frame handed to the Opus encoder -> first audible
  frame out of the client's jitter buffer and decoder (as a browser's would).
* Both in chromium (``--browser``, the default when /usr/bin/chromium exists): the talk page
  with the WAV as its microphone; the page's analysers time the mic going quiet and the
  agent becoming audible.

The server's own figure (``turn_metrics.voice_to_voice``, measured at the transport) is
reported next to it; the difference is the transport overhead. Each reply is interrupted
once it is heard, so turns stay short.

    python bench/transport_latency.py           # writes "## Transport latency", docs/PERFORMANCE.md
    python bench/transport_latency.py --quick   # 4 turns per client, no browser, no file
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from perfdoc import write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import SpeechTrack  # noqa: E402  (the same aiortc client as the tests)

RATE = 16000
FRAME = 320  # 20 ms at 16 kHz
FRAME_BYTES = FRAME * 2
PAGE_PREBUFFER = 0.040  # the web page's WebSocket player starts after 40 ms (worklets.js)
CHROMIUM = "/usr/bin/chromium"
PHRASES = ["what can you do", "who are you"]
HEADING = "## Transport latency"


# -- shared helpers (bench/capacity.py uses them too) ---------------------------------------


def speak(text: str) -> np.ndarray:
    """``text`` by espeak, 16 kHz mono int16."""
    from causerie.audio.wav import resample
    from causerie.providers.local.espeak_engine import get_engine

    eng = get_engine()
    return resample(eng.synthesize_pcm(text, voice="en-us", rate=160), eng.sample_rate, RATE)


def audible(pcm: bytes | np.ndarray, threshold: int = 300) -> bool:
    a = np.frombuffer(pcm, np.int16) if isinstance(pcm, bytes) else pcm
    return bool(len(a)) and int(np.abs(a).max()) > threshold


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ms(v: float | None) -> str:
    return "–" if v is None else f"{v * 1000:.0f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m causerie serve`` in a subprocess; ended by its PID."""

    def __init__(
        self, max_sessions: int = 8, warm_sessions: int | None = None, sets: Sequence[str] = ()
    ) -> None:
        self.port = free_port()
        self.max_sessions = max_sessions
        self.warm_sessions = warm_sessions
        self.sets = list(sets)  # KEY=VALUE overrides of the agent (serve --set)
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "causerie", "serve", "--port", str(self.port),
               "--max-sessions", str(self.max_sessions)]  # fmt: skip
        cmd += [arg for kv in self.sets for arg in ("--set", kv)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.warm_sessions is not None:
            env["CAUSERIE_WARM_SESSIONS"] = str(self.warm_sessions)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line.rstrip())
                if "is ready" in line:
                    ready.set()

        threading.Thread(target=pump, name="server-stderr", daemon=True).start()
        if not ready.wait(90):
            self.__exit__()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.log[-20:]))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: uvicorn shuts down cleanly
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0


@dataclass
class Turn:
    client: float | None = None
    """Last audible sample sent -> first audible sample received (client clock)."""
    server: float | None = None
    """The server's ``turn_metrics.voice_to_voice``."""
    underruns: int = 0


@dataclass
class WsClient:
    """A WebSocket client speaking in real time; records replies and playback gaps."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    last_audible_sent: float | None = None
    first_reply_at: float | None = None
    _play_end: float | None = None  # virtual player: when its buffer runs dry
    _underruns: int = 0
    prebuffer: float = PAGE_PREBUFFER
    """Grows like the page's after each underrun (worklets.js)."""

    async def __aenter__(self) -> WsClient:
        import websockets

        self.ws = await websockets.connect(self.url, max_size=2**16)
        self._reader = asyncio.create_task(self._read(), name="bench.ws.read")
        self._wake = asyncio.Event()
        while not any(e["type"] == "ready" for e in self.events):
            await self._event()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self._reader

    async def _event(self) -> None:
        self._wake.clear()
        await self._wake.wait()

    async def _read(self) -> None:
        import websockets

        try:
            async for msg in self.ws:
                now = time.time()
                if isinstance(msg, bytes):
                    self._play(now)
                    if self.first_reply_at is None and audible(msg):
                        self.first_reply_at = now
                else:
                    self.events.append(json.loads(msg))
                self._wake.set()
        except websockets.ConnectionClosed:
            pass

    def _play(self, now: float) -> None:
        """The page's player (worklets.js): playback starts once ``prebuffer`` is queued; a
        frame arriving after the buffer ran dry is an underrun, a gap the listener hears,
        and the pre-buffer grows by 20 ms (up to 120 ms)."""
        if self._play_end is None or now > self._play_end + 0.2:
            self._play_end = now + self.prebuffer + 0.02  # a new reply starts
        elif now > self._play_end:
            self._underruns += 1
            self.prebuffer = min(0.120, self.prebuffer + 0.020)
            self._play_end = now + self.prebuffer + 0.02
        else:
            self._play_end += 0.02

    async def send_pcm(self, pcm: np.ndarray) -> None:
        pcm = np.pad(pcm, (0, -len(pcm) % FRAME))
        start = time.monotonic()
        for i in range(0, len(pcm), FRAME):
            chunk = pcm[i : i + FRAME]
            await self.ws.send(chunk.tobytes())
            if audible(chunk):
                self.last_audible_sent = time.time()
            await asyncio.sleep(max(0.0, start + (i // FRAME + 1) * 0.02 - time.monotonic()))

    async def silence_until(self, done: Any, within: float) -> bool:
        """Stream silence (a live mic) until ``done()`` or ``within`` seconds."""
        zeros = np.zeros(FRAME * 5, np.int16)
        deadline = time.monotonic() + within
        while not done():
            if time.monotonic() > deadline:
                return False
            await self.send_pcm(zeros)
        return True

    async def turn(self, pcm: np.ndarray, *, interrupt: bool) -> Turn:
        """Say ``pcm``, wait for the reply; interrupt it once heard, or let it finish."""
        metrics_seen = len([e for e in self.events if e["type"] == "turn_metrics"])
        await self.silence_until(lambda: False, 0.5)
        self.first_reply_at = None
        self._underruns = 0
        await self.send_pcm(pcm)
        sent = self.last_audible_sent
        turn = Turn()
        # Audio heard while the question was said is an earlier question's late reply: this
        # turn's own reply cannot be told from it, so the turn counts as unanswered.
        stale = self.first_reply_at is not None
        if not stale and await self.silence_until(lambda: self.first_reply_at is not None, 10.0):
            assert sent is not None and self.first_reply_at is not None
            turn.client = self.first_reply_at - sent + self.prebuffer
        if interrupt:
            await self.ws.send('{"type": "interrupt"}')

        def metrics() -> list[dict[str, Any]]:
            return [e for e in self.events if e["type"] == "turn_metrics"][metrics_seen:]

        await self.silence_until(lambda: bool(metrics()), 15.0)  # sent when the reply ends
        if metrics():
            turn.server = metrics()[0]["voice_to_voice"]
        turn.underruns = self._underruns
        self.turns.append(turn)
        return turn


class RtcClient:
    """A WebRTC client (aiortc), connecting like the web page does."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.events: list[dict[str, Any]] = []
        self.first_reply_at: float | None = None
        self.turns: list[Turn] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> RtcClient:
        import httpx
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from causerie.compat.aiortc import allow_loopback_candidates

        allow_loopback_candidates()
        self.pc = RTCPeerConnection()
        self.mic = SpeechTrack.create()
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("events")
        self.channel.on("message", lambda m: self.events.append(json.loads(m)))
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer"}
        async with httpx.AsyncClient() as http:
            r = await http.post(self.base_url + "/api/offer", json=offer, timeout=30)
        r.raise_for_status()
        await self.pc.setRemoteDescription(RTCSessionDescription(**r.json()))
        await self.until(lambda: any(e["type"] == "ready" for e in self.events), 15)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pc.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_track(self, track: Any) -> None:
        self._tasks.append(asyncio.create_task(self._read(track), name="bench.rtc.read"))

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.first_reply_at is None and audible(frame.to_ndarray().tobytes()):
                self.first_reply_at = time.time()

    async def until(self, done: Any, within: float) -> bool:
        deadline = time.monotonic() + within
        while not done():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def turn(self, pcm: np.ndarray) -> Turn:
        seen = len([e for e in self.events if e["type"] == "turn_metrics"])
        await asyncio.sleep(0.5)
        self.first_reply_at = None
        self.mic.say(pcm)
        await asyncio.sleep(len(pcm) / RATE)
        await self.until(lambda: not self.mic.pending, 2.0)
        sent = self.mic.last_audible_sent
        turn = Turn()
        if await self.until(lambda: self.first_reply_at is not None, 10.0):
            assert sent is not None and self.first_reply_at is not None
            turn.client = self.first_reply_at - sent
        self.channel.send('{"type": "interrupt"}')

        def metrics() -> list[dict[str, Any]]:
            return [e for e in self.events if e["type"] == "turn_metrics"][seen:]

        await self.until(lambda: bool(metrics()), 15.0)
        if metrics():
            turn.server = metrics()[0]["voice_to_voice"]
        self.turns.append(turn)
        return turn


# -- the measurements ---------------------------------------------------------------------


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def bench_ws(server: Server, speech: list[np.ndarray], turns: int) -> list[Turn]:
    async with WsClient(server.ws_url) as c:
        for i in range(turns):
            t = await c.turn(speech[i % len(speech)], interrupt=True)
            progress(f"  websocket {i + 1}/{turns}: heard {ms(t.client)}, server {ms(t.server)}")
        return c.turns


async def bench_rtc(server: Server, speech: list[np.ndarray], turns: int) -> list[Turn]:
    async with RtcClient(server.url) as c:
        for i in range(turns):
            t = await c.turn(speech[i % len(speech)])
            progress(f"  webrtc {i + 1}/{turns}: heard {ms(t.client)}, server {ms(t.server)}")
        return c.turns


async def bench_browser(server: Server, transport: str, turns: int) -> list[Turn]:
    """The talk page in chromium, the utterances as its fake microphone."""
    from playwright.async_api import async_playwright

    from causerie.audio.wav import PCM, write_wav

    gap = 5.0
    parts = [np.zeros(int(1.5 * RATE), np.int16)]
    for i in range(turns):
        parts += [speak(PHRASES[i % len(PHRASES)]), np.zeros(int(gap * RATE), np.int16)]
    parts.append(np.zeros(30 * RATE, np.int16))  # chromium loops the file: keep it quiet after
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "mic.wav"
        write_wav(wav, PCM(np.concatenate(parts), RATE))
        args = [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required",
            "--disable-background-networking",
            "--allow-loopback-in-peer-connection",
            "--no-sandbox",
        ]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
            page = await browser.new_page()
            await page.goto(f"{server.url}/?transport={transport}&aec=0&autoconnect=1")
            done = 0
            deadline = time.monotonic() + turns * (gap + 3) + 20
            while done < turns and time.monotonic() < deadline:
                heard = await page.evaluate("window.causerie.stats.heard.length")
                if heard > done:
                    done = heard
                    # Cut the reply once heard, so it never overlaps the next question.
                    await page.evaluate(
                        "window.dispatchEvent(new CustomEvent('causerie:send', "
                        "{detail: {type: 'interrupt'}}))"
                    )
                    progress(f"  {transport} in chromium: turn {done}/{turns}")
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            heard = await page.evaluate("window.causerie.stats.heard")
            server_v2v = await page.evaluate(
                "window.causerie.events.filter(e => e.type === 'turn_metrics')"
                ".map(e => e.voice_to_voice)"
            )
            await browser.close()
    out = [Turn(client=h) for h in heard]
    for t, s in zip(out, server_v2v, strict=False):
        t.server = s
    return out


@dataclass
class Row:
    transport: str
    client: str
    turns: list[Turn]

    def summary(self) -> dict[str, Any]:
        c = [t.client for t in self.turns if t.client is not None]
        s = [t.server for t in self.turns if t.server is not None]
        paired = [t for t in self.turns if t.client is not None and t.server is not None]
        over = [t.client - t.server for t in paired]  # type: ignore[operator]
        return {
            "n": len(c),
            "median": statistics.median(c) if c else None,
            "p90": pct(c, 0.9) if c else None,
            "server": statistics.median(s) if s else None,
            "overhead": statistics.median(over) if over else None,
        }


TARGETS = {"WebSocket": 0.230, "WebRTC": 0.330}  # issue 16, heard in chromium

NOTES = """\
*Heard*: from the last audible sample the client sent to the first audible sample it could
play. The Python WebSocket client adds the page's 40 ms playback pre-buffer to the arrival
time. The aiortc client times frames out of its jitter buffer (aiortc's default: 4 packets)
and Opus decoder. The chromium rows are the talk page's own measurement (its analysers,
polled every 10 ms, on the fake microphone and on the agent's audio): they include the
browser's capture, Opus encoding, jitter buffer and playout, and the browser competes with
the server for the 2 cores.

*Server-measured*: `turn_metrics.voice_to_voice`, from the arrival of the last audible frame
at the server to the departure of the first audible reply frame; most of it is the turn
detection configured in `agent.yaml` (VAD silence 0.2 s, then the STT's final), the same
for every transport. *Transport overhead*: the median over turns of heard minus
server-measured. For WebRTC, on the way in: packetization (20 ms) and Opus; the server
decodes each packet as it arrives (no jitter buffer: the recognizer needs order, not
timing). On the way out: the track's 20 ms clock, then the browser's jitter buffer
(`jitterBufferTarget = 0` requested, ~30-50 ms measured with getStats) and playout
(~30 ms)."""


def table(rows: list[Row]) -> str:
    out = [
        "| transport | client | turns | heard: median | p90 | server-measured median "
        "| transport overhead | target (median, in the browser) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r.summary()
        target = f"<= {ms(TARGETS[r.transport])}" if r.client.startswith("chromium") else ""
        out.append(
            f"| {r.transport} | {r.client} | {s['n']} | **{ms(s['median'])}** | {ms(s['p90'])} | "
            f"{ms(s['server'])} | {ms(s['overhead'])} | {target} |"
        )
    return "\n".join(out)


async def run(turns: int, browser: bool) -> list[Row]:
    speech = [speak(p) for p in PHRASES]
    rows: list[Row] = []
    with Server() as server:
        # One throwaway turn: a fresh STT decoder and VAD warm up on it.
        progress("warming up")
        async with WsClient(server.ws_url) as c:
            await c.turn(speech[0], interrupt=True)
        progress("WebSocket, Python client")
        ws_turns = await bench_ws(server, speech, turns)
        rows.append(Row("WebSocket", "Python client (+40 ms page buffer)", ws_turns))
        progress("WebRTC, aiortc client")
        rtc_turns = await bench_rtc(server, speech, turns)
        rows.append(Row("WebRTC", "aiortc client (its jitter buffer, Opus)", rtc_turns))
        if browser:
            for transport, name in (("websocket", "WebSocket"), ("webrtc", "WebRTC")):
                progress(f"{name}, chromium")
                page_turns = await bench_browser(server, transport, turns)
                rows.append(Row(name, "chromium talk page", page_turns))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="4 turns, no browser, nothing written")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    turns = 4 if args.quick else args.turns
    browser = not (args.quick or args.no_browser) and os.path.exists(CHROMIUM)
    rows = asyncio.run(run(turns, browser))
    text = table(rows)
    print(text)
    if args.quick:
        return
    section = f"""{HEADING}

`python bench/transport_latency.py` on {time.strftime("%Y-%m-%d")}, {os.cpu_count()}-core machine,
Python {platform.python_version()}. `causerie serve` in its own process with the default
offline agent (pocketsphinx, scripted LLM, espeak, silero VAD, `turn.detection: vad`), the
clients on the same machine; espeak utterances ("what can you do", "who are you") spoken in
real time, {turns} turns per client, each reply interrupted once heard.

{text}

{NOTES}
"""
    write_section(ROOT / "docs" / "PERFORMANCE.md", HEADING, section)
    progress(f"written: docs/PERFORMANCE.md ({HEADING})")


if __name__ == "__main__":
    main()
