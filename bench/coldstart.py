"""Cold start: from launching ``causerie serve`` to ``/healthz`` answering and a first spoken
turn answered, and where the time goes.

Each run launches ``python -m causerie serve`` (default offline agent), polls ``/healthz``
every 10 ms, then opens a WebSocket session and asks one espeak question in real time.
Reported per run: launch -> ``/healthz`` 200, -> the session's ``ready`` event, -> the first
reply heard (the question itself takes ~1 s of that), and the server tree's CPU seconds
until ``/healthz`` (less sensitive than wall time to other work on a shared machine). The
phases are the server's own progress lines, timestamped as they arrive; one more run under
``-X importtime`` gives the import time per top-level package (inflated by the tracing).

    python bench/coldstart.py                    # writes "## Cold start" in docs/PERFORMANCE.md
    python bench/coldstart.py --runs 1 --quick
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import numpy as np
from memory import tree_cpu
from transport_latency import ROOT, WsClient, free_port, ms, progress, speak, write_section

HEADING = "## Cold start"
QUESTION = "what can you do"


@dataclass
class Run:
    healthz: float = 0.0
    ws_ready: float = 0.0
    first_reply: float | None = None
    v2v: float | None = None
    cpu: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)


class Launch:
    """``python [flags] -m causerie serve`` in a subprocess, its stderr timestamped."""

    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        cmd = [sys.executable, *flags, "-m", "causerie", "serve", "--port", str(self.port)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.t0, self.t0_wall = time.monotonic(), time.time()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._pump, name="coldstart-stderr", daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic() - self.t0, line.rstrip()))

    def wait_healthz(self, timeout: float = 120.0) -> float:
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() - self.t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited:\n" + "\n".join(x for _, x in self.lines))
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - self.t0
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("no /healthz in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def one_run(question: np.ndarray) -> Run:
    launch = Launch()
    try:
        run = Run(healthz=await asyncio.to_thread(launch.wait_healthz))
        run.cpu = tree_cpu(launch.proc.pid)
        async with WsClient(f"ws://127.0.0.1:{launch.port}/api/ws") as c:
            run.ws_ready = time.monotonic() - launch.t0
            turn = await c.turn(question, interrupt=True)
            run.v2v = turn.client
            if c.first_reply_at is not None:
                run.first_reply = c.first_reply_at - launch.t0_wall
        run.lines = launch.lines
        return run
    finally:
        launch.stop()


def import_breakdown() -> list[tuple[str, float]]:
    """Self import time summed per top-level package, for ``causerie serve``'s imports."""
    launch = Launch("-X", "importtime")
    try:
        launch.wait_healthz()
    finally:
        launch.stop()
    per: dict[str, float] = {}
    for _, line in launch.lines:
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _cum, name = line[len("import time:") :].split("|")
        top = name.strip().split(".")[0]
        per[top] = per.get(top, 0.0) + int(self_us) / 1e6
    return sorted(per.items(), key=lambda kv: -kv[1])


def phases(run: Run) -> list[tuple[float, str]]:
    keep = ("loading", "preparing", "is ready", "Uvicorn running", "Application startup")
    return [(t, x) for t, x in run.lines if any(k in x for k in keep)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="print only, write nothing")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    question = speak(QUESTION)
    runs: list[Run] = []
    for i in range(args.runs):
        progress(f"run {i + 1}/{args.runs} ...")
        run = asyncio.run(one_run(question))
        runs.append(run)
        progress(
            f"  /healthz {run.healthz:.2f} s, session ready {run.ws_ready:.2f} s, "
            f"first reply heard {run.first_reply or float('nan'):.2f} s "
            f"(v2v {ms(run.v2v)}), CPU {run.cpu:.2f} s"
        )
    progress("imports (-X importtime) ...")
    imports = import_breakdown()
    load_end = os.getloadavg()[0]
    shared = (
        ": other work shared the cores, so wall times are pessimistic"
        if max(load, load_end) > 1.5
        else ""
    )
    rows = [
        "| run | /healthz 200 | session ready | first reply heard | its v2v "
        "| tree CPU until /healthz |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(runs, 1):
        fr = f"{r.first_reply:.2f} s" if r.first_reply is not None else "–"
        rows.append(
            f"| {i} | {r.healthz:.2f} s | {r.ws_ready:.2f} s | {fr} | {ms(r.v2v)} | {r.cpu:.2f} s |"
        )
    med = statistics.median(r.healthz for r in runs)
    phase_rows = ["| since launch | server says |", "|---|---|"]
    phase_rows += [f"| {t:.2f} s | {x[:90]} |" for t, x in phases(runs[-1])]
    imp = ", ".join(f"{k} {v:.2f} s" for k, v in imports[:10])
    text = "\n".join(rows)
    print(text, "\n".join(phase_rows), imp, sep="\n\n")
    if args.quick:
        return
    section = f"""{HEADING}

`python bench/coldstart.py --runs {args.runs}` on {time.strftime("%Y-%m-%d")},
{os.cpu_count()}-core machine, Python {platform.python_version()}. Load average {load:.1f} at
the start, {load_end:.1f} at the end{shared}; the tree's CPU seconds until `/healthz` are the
part that depends least on the load (the start is mostly single-threaded). Launch of
`python -m causerie serve` (default offline agent) -> `/healthz` 200 -> a WebSocket
session's `ready` -> the first reply to a spoken question heard (the question lasts ~1 s).
Median launch -> `/healthz`: **{med:.2f} s**
(target <= 3 s).

{text}

Where the time goes (the last run's progress lines):

{chr(10).join(phase_rows)}

Imports, self time per top-level package (`-X importtime`, which inflates them): {imp}.

Most of the start is importing: `livekit.agents` alone pulls in the OpenAI SDK (its \
`inference` module), aiohttp and OpenTelemetry, whichever providers the agent uses. Then the \
stages load: silero's ONNX model in the server, the pocketsphinx model once, in the fork \
server (a process of its own, so it overlaps the server's own work on a second core). Session \
slots add nothing to the start: a session's worker is forked from the fork server when it \
starts (before: one process and one model load per slot).
"""
    write_section(ROOT / "docs" / "PERFORMANCE.md", HEADING, section)
    progress(f"written: docs/PERFORMANCE.md ({HEADING})")


if __name__ == "__main__":
    main()
