"""Soak, churn and slow consumer against one ``causerie serve`` subprocess (issue 14 §1).

* soak: N WebSocket conversations of real-time espeak speech, every third question cut
  by a barge-in (the user speaks over the reply), for D minutes. Each minute: RSS and PSS
  (smaps_rollup) of the server and its pocketsphinx workers, open fds, threads, asyncio
  tasks (``/healthz``), voice-to-voice p50/p90 (``turn_metrics``). Pass: memory and tasks
  grow < 5 % after the first minute, every question answered, p90 flat (last minute
  within 1.5x the first).
* churn: C connect/disconnect cycles mixing WebSocket and WebRTC (aiortc), a third
  dropped mid-utterance, a third mid-reply. Afterwards RSS, fds, tasks and worker
  processes back to the baseline, and a fresh conversation still works.
* slow: a client that stops reading at the TCP level is hung up on (1008 and a reason)
  with the server's default buffers; two others keep talking meanwhile.

    python bench/soak.py                                 # 12 x 10 min, 1000 cycles; docs
    python bench/soak.py --sessions 3 --minutes 1 --cycles 50 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from transport_latency import ROOT, free_port, pct, speak

from tests.e2e.harness import RtcClient, WsClient, speech_frames  # the tests' clients

DOC = ROOT / "docs" / "RELIABILITY.md"
HEADING = "## Soak and churn"
INTRO = "# Reliability\n\nLoad, faults and hostile input, measured on the project's machine.\n"
INTRO_SECTION = (
    "`bench/soak.py` against a `causerie serve` subprocess (built-in offline agent: "
    "pocketsphinx, scripted LLM, espeak), speech made by espeak and sent in real time. Each "
    "part says the command that produced it and how loaded the machine was."
)
PARTS = ("Soak", "Churn", "Slow consumer")
PHRASES = ["what can you do", "who are you", "how are you", "thank you"]
FRAME = 320
ANSWER_S = 30.0  # a question not answered (the agent speaking) within this is unanswered


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the server and what it costs ------------------------------------------------------------


class Server:
    """``causerie serve`` (built-in agent, a throwaway SQLite store); ended by its PID."""

    def __init__(self, max_sessions: int, warm: int) -> None:
        self.port = free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="causerie-soak-")
        store = Path(self.tmp.name) / "soak.sqlite3"
        cmd = [sys.executable, "-m", "causerie", "serve", "--port", str(self.port),
               "--max-sessions", str(max_sessions),
               "--set", f"metrics.store_url=sqlite:///{store}"]  # fmt: skip
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
            "CAUSERIE_WARM_SESSIONS": str(warm),
            "CAUSERIE_SESSION_RATE_LIMIT": "100000",  # one client address opens them all
        }
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            cmd, cwd=self.tmp.name, env=env, stderr=subprocess.PIPE, text=True
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line.rstrip())
                if "is ready" in line:
                    ready.set()

        threading.Thread(target=pump, name="server-stderr", daemon=True).start()
        if not ready.wait(180):
            self.stop()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.log[-20:]))
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    def health(self) -> dict[str, Any]:
        return dict(self.http.get("/healthz").json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(15)  # SIGTERM: drains, then exits
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.tmp.cleanup()


def _rollup(pid: int) -> tuple[float, float]:
    """RSS and PSS in MB (smaps_rollup)."""
    rss = pss = 0.0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    return rss, pss


def _children(pid: int) -> list[int]:
    """Every descendant (the pocketsphinx workers), from /proc."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for k in kids:
            out += [k, *_children(k)]
    return out


@dataclass
class Sample:
    at: float
    rss: float
    pss: float
    workers: int
    workers_rss: float
    workers_pss: float
    fds: int
    threads: int
    tasks: int
    active: int


def sample(server: Server) -> Sample:
    pid = server.proc.pid
    rss, pss = _rollup(pid)
    wr = wp = 0.0
    kids = _children(pid)
    for k in kids:
        try:
            r, p = _rollup(k)
        except OSError:
            continue  # ended meanwhile
        wr, wp = wr + r, wp + p
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(x.split()[1]) for x in f if x.startswith("Threads:"))
    sessions = server.health()["sessions"]
    return Sample(
        time.time(),
        rss,
        pss,
        len(kids),
        wr,
        wp,
        len(os.listdir(f"/proc/{pid}/fd")),
        threads,
        int(sessions["asyncio_tasks"]),
        int(sessions["active"]),
    )


# -- soak -----------------------------------------------------------------------------------


@dataclass
class Talker:
    """One soak conversation: real-time speech, replies heard, barge-ins."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    asked: int = 0
    unanswered: list[str] = field(default_factory=list)
    barge_ins: int = 0
    stuck: int = 0

    async def run(self, pcm: dict[str, np.ndarray], until: float, rng: random.Random) -> None:
        import websockets

        self.ws = await websockets.connect(self.url, max_size=2**16)
        reader = asyncio.create_task(self._read(), name="soak.read")
        try:
            await self._wait(lambda: self._n("ready") > 0, 30)
            while time.time() < until:
                barge = self.asked % 3 == 2
                text = rng.choice(PHRASES)
                speaking = self._n("agent_state", "speaking")
                await self._say(pcm[text])
                self.asked += 1
                if not await self._wait(
                    lambda n=speaking: self._n("agent_state", "speaking") > n, ANSWER_S
                ):
                    self.unanswered.append(text)
                    continue
                if barge:  # speak over the reply: it must stop and the new question be answered
                    await self._silence(0.6)
                    speaking = self._n("agent_state", "speaking")
                    await self._say(pcm[rng.choice(PHRASES)])
                    self.asked += 1
                    self.barge_ins += 1
                    if not await self._wait(
                        lambda n=speaking: self._n("agent_state", "speaking") > n, ANSWER_S
                    ):
                        self.unanswered.append("(barge-in)")
                        continue
                if not await self._wait(lambda: self._state() == "listening", 60):
                    self.stuck += 1  # the agent never went back to listening
                await self._silence(rng.uniform(0.3, 1.5))  # a pause between questions
        finally:
            await self.ws.close()
            await reader

    def _n(self, type_: str, state: str | None = None) -> int:
        return sum(
            1 for e in self.events if e["type"] == type_ and (state is None or e["state"] == state)
        )

    def _state(self) -> str | None:
        states = [e["state"] for e in self.events if e["type"] == "agent_state"]
        return states[-1] if states else None

    async def _read(self) -> None:
        import websockets

        try:
            async for msg in self.ws:
                if isinstance(msg, str):
                    ev = json.loads(msg)
                    ev["_at"] = time.time()
                    self.events.append(ev)
        except websockets.ConnectionClosed:
            pass

    async def _say(self, pcm: np.ndarray) -> None:
        start = time.monotonic()
        for i in range(0, len(pcm), FRAME):
            await self.ws.send(pcm[i : i + FRAME].tobytes())
            await asyncio.sleep(max(0.0, start + (i // FRAME + 1) * 0.02 - time.monotonic()))

    async def _silence(self, seconds: float) -> None:
        await self._say(np.zeros(int(seconds * 16000) // FRAME * FRAME, np.int16))

    async def _wait(self, cond: Any, within: float) -> bool:
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline:
                return False
            await self._silence(0.1)  # a live microphone keeps sending
        return True

    def v2v(self) -> list[tuple[float, float]]:
        return [
            (e["_at"], e["voice_to_voice"])
            for e in self.events
            if e["type"] == "turn_metrics" and e.get("voice_to_voice") is not None
        ]


async def soak(server: Server, sessions: int, minutes: float, interval: float) -> dict[str, Any]:
    pcm = {t: np.pad(p := speak(t), (0, -len(p) % FRAME)) for t in PHRASES}
    rng = random.Random(14)
    start = time.time()
    until = start + minutes * 60
    talkers = [Talker(server.ws_url) for _ in range(sessions)]
    samples: list[Sample] = [await asyncio.to_thread(sample, server)]

    async def staggered(i: int, t: Talker) -> None:
        await asyncio.sleep(i * 0.7)  # not all at once, like real users
        await t.run(pcm, until, random.Random(rng.random()))

    tasks = [
        asyncio.create_task(staggered(i, t), name=f"soak.talker[{i}]")
        for i, t in enumerate(talkers)
    ]
    while time.time() < until:
        await asyncio.sleep(min(interval, max(0.0, until - time.time())))
        samples.append(await asyncio.to_thread(sample, server))
        s = samples[-1]
        progress(
            f"soak {(s.at - start) / 60:4.1f} min: rss {s.rss:.0f}+{s.workers_rss:.0f} MB "
            f"tasks {s.tasks} fds {s.fds} threads {s.threads} active {s.active}"
        )
    await asyncio.gather(*tasks, return_exceptions=False)
    v2v = sorted(x for t in talkers for x in t.v2v())
    return {
        "sessions": sessions,
        "minutes": minutes,
        "start": start,
        "interval": interval,
        "samples": samples,
        "v2v": v2v,
        "asked": sum(t.asked for t in talkers),
        "barge_ins": sum(t.barge_ins for t in talkers),
        "unanswered": [u for t in talkers for u in t.unanswered],
        "stuck": sum(t.stuck for t in talkers),
    }


# -- churn ----------------------------------------------------------------------------------


async def cycle(server: Server, i: int) -> str:
    """One connect/disconnect; i % 3: 0 clean, 1 mid-utterance, 2 mid-reply."""
    kind = "ws" if i % 2 == 0 else "rtc"
    when = ("clean", "mid_utterance", "mid_reply")[i % 3]
    frames = speech_frames(PHRASES[i % len(PHRASES)], lead=0.3, tail=0.4)
    if kind == "ws":
        c = WsClient(server.ws_url)
        await c.__aenter__()
        try:
            await c.wait_for(lambda e: e["type"] == "ready", within=30, keep_streaming=False)
            if when == "mid_utterance":
                await c.stream(frames[: len(frames) // 2])
            elif when == "mid_reply":
                await c.stream(frames)
                await c.wait_for(
                    lambda e: e["type"] == "agent_state" and e["state"] == "speaking", within=30
                )
        except AssertionError as e:
            errors = [f"{x.get('code')}: {x.get('message')}" for x in c.of("error")]
            raise AssertionError(f"{e}; errors: {errors}") from None
        finally:
            if when == "clean":
                await c.ws.close()
            else:
                c.ws.transport.abort()  # the connection just dies
            await c._reader
    else:
        r = RtcClient(server.url)
        await r.__aenter__()
        try:
            await r.wait_for(lambda e: e["type"] == "ready", within=30)
            pcm = np.frombuffer(b"".join(frames), np.int16)
            if when == "mid_utterance":
                r.mic.say(pcm[: len(pcm) // 2])
                await r.wait_for(
                    lambda e: e["type"] == "user_state" and e["state"] == "speaking", within=30
                )
            elif when == "mid_reply":
                r.mic.say(pcm)
                await r.wait_for(
                    lambda e: e["type"] == "agent_state" and e["state"] == "speaking", within=30
                )
        except AssertionError as e:
            heard = [x.get("text") for x in r.of("user_transcript") if x.get("final")]
            raise AssertionError(f"{e}; heard: {heard}") from None
        finally:
            await r.close()
    return f"{kind}/{when}"


async def _cycles(
    server: Server,
    queue: Any,
    done: dict[str, int],
    failed: list[str],
    total: int = 0,
    trend: list[tuple[int, float, int, int]] | None = None,
) -> None:
    """Run the cycles ``queue`` yields; ``trend`` gets (cycles, RSS, fds, tasks) every
    tenth of ``total`` (sessions are open then: fds and tasks are not at baseline)."""
    for i in queue:
        try:
            k = await cycle(server, i)
            done[k] = done.get(k, 0) + 1
        except Exception as e:  # counted and reported, the run goes on
            failed.append(f"cycle {i}: {type(e).__name__}: {e}"[:300])
        n = sum(done.values()) + len(failed)
        if total and n % 50 == 0:
            progress(f"churn {n}/{total}")
        if trend is not None and total and n % max(1, total // 10) == 0:
            s = await asyncio.to_thread(sample, server)
            trend.append((n, s.rss, s.fds, s.tasks))


async def settle(server: Server, baseline: Sample, within: float = 60.0) -> Sample:
    """Wait for the sessions to close and the tasks to come back down, then sample."""
    deadline = time.monotonic() + within
    while True:
        s = await asyncio.to_thread(sample, server)
        if (s.active == 0 and s.tasks <= baseline.tasks) or time.monotonic() > deadline:
            return s
        await asyncio.sleep(1.0)


async def churn(server: Server, cycles: int, concurrency: int) -> dict[str, Any]:
    # Every kind, at full concurrency, first: lazy imports, pools and thread pools filling
    # up to their size are not leaks.
    warm = iter(range(4 * concurrency))
    await asyncio.gather(*(_cycles(server, warm, {}, []) for _ in range(concurrency)))
    base = await settle(server, await asyncio.to_thread(sample, server))
    await asyncio.sleep(2.0)
    base = await asyncio.to_thread(sample, server)
    done: dict[str, int] = {}
    failed: list[str] = []
    queue = iter(range(cycles))
    trend: list[tuple[int, float, int, int]] = []
    t0 = time.monotonic()
    await asyncio.gather(
        *(_cycles(server, queue, done, failed, cycles, trend) for _ in range(concurrency))
    )
    elapsed = time.monotonic() - t0
    after = await settle(server, base)
    # A healthy conversation afterwards.
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready", within=30)
        await c.stream(speech_frames("what can you do", lead=0.3))
        reply = await c.wait_for(
            lambda e: e["type"] == "agent_transcript" and e["final"], within=30
        )
    healthy = bool(reply["text"])
    final = await settle(server, base)
    return {
        "cycles": cycles,
        "concurrency": concurrency,
        "elapsed": elapsed,
        "done": done,
        "failed": failed,
        "base": base,
        "after": after,
        "final": final,
        "healthy": healthy,
        "trend": trend,
    }


# -- slow consumer --------------------------------------------------------------------------


async def slow_consumer(server: Server) -> dict[str, Any]:
    import websockets

    stalled = await websockets.connect(server.ws_url, max_size=2**16)
    await stalled.recv()  # ready
    stalled.transport.pause_reading()
    t0 = time.monotonic()
    await stalled.send('{"type": "text", "text": "what can you do"}')
    others_ok = 0
    hung_up: float | None = None

    others_open = 0  # 1 while another conversation holds a session (after its "ready")

    async def watch() -> None:
        nonlocal hung_up
        while server.health()["sessions"]["active"] > others_open:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.2)
        hung_up = time.monotonic() - t0

    watcher = asyncio.create_task(watch(), name="soak.slow.watch")
    # Other conversations, one after another, talk while the stalled one fills its buffers.
    for _ in range(6):
        async with WsClient(server.ws_url) as c:
            await c.wait_for(lambda e: e["type"] == "ready", within=30)
            others_open = 1
            await c.ws.send('{"type": "text", "text": "who are you"}')
            await c.wait_for(lambda e: e["type"] == "agent_transcript" and e["final"], within=30)
            others_ok += 1
            others_open = 0
        if hung_up is not None:
            break
        # Ask again: each question is another ~8 s of reply the client does not read.
        await stalled.send('{"type": "text", "text": "what can you do"}')
    try:
        await asyncio.wait_for(watcher, 300)
    except TimeoutError:
        pass
    stalled.transport.resume_reading()
    try:
        while True:
            await asyncio.wait_for(stalled.recv(), 30)
    except (websockets.ConnectionClosed, TimeoutError):
        pass
    return {
        "hung_up_after": hung_up,
        "code": stalled.close_code,
        "reason": stalled.close_reason,
        "others_ok": others_ok,
    }


# -- report ---------------------------------------------------------------------------------


def growth(first: float, last: float) -> float:
    return (last - first) / first * 100 if first else 0.0


def soak_table(r: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    rows = [
        "| minute | server RSS / PSS (MB) | workers | workers RSS / PSS (MB) | fds | threads "
        "| asyncio tasks | v2v p50 / p90 (ms) | turns |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    samples: list[Sample] = r["samples"]
    start = r["start"]
    per: list[float] = []
    p90s: list[float] = []
    for prev, s in itertools.pairwise(samples):
        vals = [v for at, v in r["v2v"] if prev.at < at <= s.at]
        p50 = f"{pct(vals, 0.5) * 1000:.0f}" if vals else "–"
        p90 = f"{pct(vals, 0.9) * 1000:.0f}" if vals else "–"
        if vals:
            p90s.append(pct(vals, 0.9))
        per.append(len(vals))
        rows.append(
            f"| {(s.at - start) / 60:.1f} | {s.rss:.0f} / {s.pss:.0f} | {s.workers} "
            f"| {s.workers_rss:.0f} / {s.workers_pss:.0f} | {s.fds} | {s.threads} | {s.tasks} "
            f"| {p50} / {p90} | {len(vals)} |"
        )
    ref, last = samples[1], samples[-1]  # after the first minute
    mem = growth(ref.rss + ref.workers_pss, last.rss + last.workers_pss)
    tasks = growth(ref.tasks, last.tasks)
    flat = len(p90s) < 2 or p90s[-1] <= 1.5 * p90s[0]
    verdict = {
        "memory_growth_pct": mem,
        "tasks_growth_pct": tasks,
        "latency_flat": flat,
        "pass": mem < 5 and tasks < 5 and not r["unanswered"] and not r["stuck"] and flat,
    }
    return rows, verdict


def report(
    soak_r: dict[str, Any] | None,
    churn_r: dict[str, Any] | None,
    slow_r: dict[str, Any] | None,
    cmd: str,
    load: tuple[str, str],
) -> str:
    shared = ", shared with other work" if float(load[0].split()[0]) > 1.5 else ""
    ran = (
        f"`{cmd}` on {platform.node()} ({os.cpu_count()} cores{shared}), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average (1, 5, 15 min) "
        f"before: {load[0]}, after: {load[1]}."
    )
    out = [HEADING, "", INTRO_SECTION, ""]
    if soak_r is not None:
        rows, v = soak_table(soak_r)
        v2v = [x for _, x in soak_r["v2v"]]
        out += [
            "### Soak",
            "",
            f"{soak_r['sessions']} WebSocket conversations for {soak_r['minutes']:g} min. {ran}",
            "",
            f"{soak_r['asked']} questions ({soak_r['barge_ins']} of them barge-ins over a "
            f"reply), {len(soak_r['unanswered'])} unanswered (no reply within {ANSWER_S:g} s), "
            f"{soak_r['stuck']} replies that never ended; voice-to-voice over the run "
            + (
                f"p50 {pct(v2v, 0.5) * 1000:.0f} ms, p90 {pct(v2v, 0.9) * 1000:.0f} ms "
                f"({len(v2v)} replies)."
                if v2v
                else "not measured."
            ),
            "",
            *rows,
            "",
            f"Growth after the first minute: memory (server RSS + workers PSS) "
            f"{v['memory_growth_pct']:+.1f} %, asyncio tasks {v['tasks_growth_pct']:+.1f} %; "
            f"p90 flat: {'yes' if v['latency_flat'] else 'no'}. "
            f"**{'PASS' if v['pass'] else 'FAIL'}** (growth < 5 %, no unanswered question, "
            "last minute's p90 within 1.5x the first's).",
            "",
        ]
    if churn_r is not None:
        b, a, f = churn_r["base"], churn_r["after"], churn_r["final"]
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(churn_r["done"].items()))
        trend = churn_r["trend"]
        # A leak grows with the cycles; the allocator's high-water mark settles early.
        late = growth(trend[len(trend) // 2][1], trend[-1][1]) if len(trend) > 2 else 0.0
        ok = (
            not churn_r["failed"]
            and churn_r["healthy"]
            and late < 5
            and a.fds <= b.fds
            and a.tasks <= b.tasks
            and a.workers <= b.workers
        )
        out += [
            "### Churn",
            "",
            f"{churn_r['cycles']} connect/disconnect cycles, {churn_r['concurrency']} at a time, "
            f"in {churn_r['elapsed']:.0f} s. {ran}",
            "",
            f"Cycles done: {kinds}; failed: {len(churn_r['failed'])}.",
            "",
            "| | server RSS (MB) | workers | fds | threads | asyncio tasks |",
            "|---|---|---|---|---|---|",
            f"| baseline | {b.rss:.0f} | {b.workers} | {b.fds} | {b.threads} | {b.tasks} |",
            f"| after churn | {a.rss:.0f} | {a.workers} | {a.fds} | {a.threads} | {a.tasks} |",
            f"| after one more conversation | {f.rss:.0f} | {f.workers} | {f.fds} | "
            f"{f.threads} | {f.tasks} |",
            "",
            "Server RSS during the churn (cycles: MB): "
            + ", ".join(f"{n}: {r:.0f}" for n, r, _, _ in churn_r["trend"])
            + ".",
            "",
            f"RSS {growth(b.rss, a.rss):+.1f} % ({a.rss - b.rss:+.0f} MB) over the baseline, "
            f"{late:+.1f} % over the second half of the churn"
            + (
                f" (it peaked at {max(trend, key=lambda x: x[1])[0]} cycles: memory kept, not "
                "growing with the cycles)"
                if trend and growth(b.rss, a.rss) >= 5 and late < 5
                else ""
            )
            + "; a fresh conversation after the churn: "
            f"{'answered' if churn_r['healthy'] else 'NOT answered'}. "
            f"**{'PASS' if ok else 'FAIL'}** (no failed cycle; fds, tasks and worker "
            "processes at or under the baseline; RSS growth over the second half < 5 %).",
            "",
        ]
        if churn_r["failed"]:
            kinds_failed: dict[str, int] = {}
            for x in churn_r["failed"]:
                k = _failure_kind(x)
                kinds_failed[k] = kinds_failed.get(k, 0) + 1
            out += ["Failed cycles, by cause:", ""]
            out += [f"- {k}: {n}" for k, n in sorted(kinds_failed.items())] + [""]
            out += ["First 5:", ""] + [f"- {x}" for x in churn_r["failed"][:5]] + [""]
    if slow_r is not None:
        after = slow_r["hung_up_after"]
        out += [
            "### Slow consumer",
            "",
            ran,
            "",
            "A client stops reading at the TCP level (default kernel buffers, "
            "`max_output_backlog` 2 s) and keeps asking; "
            + (f"hung up on after {after:.1f} s" if after is not None else "NOT hung up on")
            + f', close {slow_r["code"]} "{slow_r["reason"]}"; meanwhile '
            f"{slow_r['others_ok']} other conversation(s) were answered.",
            "",
        ]
    return "\n".join(out)


def _failure_kind(message: str) -> str:
    if "heard: []" in message:
        return "the utterance was not recognized (empty transcript), so no reply to wait for"
    if "heard: [" in message:
        return "recognized, but no reply within 30 s"
    if "ReadTimeout" in message:
        return "the offer took over 5 s (the test client's HTTP timeout)"
    if "busy" in message:
        return "server busy (every slot taken)"
    return "other"


def write_section(path: Path, text: str) -> None:
    """Replace this section's parts that ``text`` has (a run of only the churn keeps the
    soak's figures), keeping the other sections (the fuzzing and security review...)."""
    old = path.read_text() if path.exists() else INTRO
    parts = _parts(text)
    if HEADING + "\n" in old:
        start = old.index(HEADING + "\n")
        nxt = old.find("\n## ", start + len(HEADING))
        parts = {**_parts(old[start : nxt if nxt != -1 else len(old)]), **parts}
        body = "\n\n".join(parts[k].rstrip() for k in PARTS if k in parts)
        new = f"{HEADING}\n\n{INTRO_SECTION}\n\n{body}\n"
        old = old[:start] + new + (old[nxt:] if nxt != -1 else "")
    else:
        old = old.rstrip() + "\n\n" + text
    path.write_text(old.rstrip() + "\n")


def _parts(section: str) -> dict[str, str]:
    """'### Soak' -> its text (heading included)."""
    out: dict[str, str] = {}
    chunks = section.split("\n### ")
    for chunk in chunks[1:]:
        title = chunk.split("\n", 1)[0].strip()
        out[title] = "### " + chunk.rstrip()
    return out


async def main_async(args: argparse.Namespace) -> str:
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    soak_r = churn_r = slow_r = None
    # Room for the churn's sessions still closing while the next ones open.
    server = Server(max(args.sessions, 2 * args.concurrency) + 2, warm=max(args.sessions, 2))
    try:
        if args.minutes > 0:
            progress(f"soak: {args.sessions} sessions for {args.minutes:g} min")
            soak_r = await soak(server, args.sessions, args.minutes, args.interval)
        if args.cycles > 0:
            progress(f"churn: {args.cycles} cycles, {args.concurrency} at a time")
            churn_r = await churn(server, args.cycles, args.concurrency)
        if args.slow:
            progress("slow consumer")
            slow_r = await slow_consumer(server)
    finally:
        await asyncio.to_thread(server.stop)
    load1 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cmd = "python bench/soak.py " + " ".join(sys.argv[1:])
    return report(soak_r, churn_r, slow_r, cmd.strip(), (load0, load1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sessions", type=int, default=12, help="soak conversations [12]")
    ap.add_argument("--minutes", type=float, default=10.0, help="soak duration; 0: skip [10]")
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between samples [60]")
    ap.add_argument("--cycles", type=int, default=1000, help="churn cycles; 0: skip [1000]")
    ap.add_argument("--concurrency", type=int, default=6, help="churn cycles at a time [6]")
    ap.add_argument("--no-slow", dest="slow", action="store_false", help="skip the slow consumer")
    ap.add_argument("--no-write", dest="write", action="store_false", help=f"do not touch {DOC}")
    args = ap.parse_args()
    text = asyncio.run(main_async(args))
    print(text)
    if args.write:
        write_section(DOC, text)
        progress(f"wrote {HEADING!r} in {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
