"""How many concurrent WebSocket conversations one ``causerie serve`` process sustains.

For each level N, N clients (in this process) connect with staggered starts and each holds a
real conversation: espeak questions in real time, the full spoken reply listened to with the
web page's 40 ms pre-buffer. The server runs in its own process (``--max-sessions`` slots,
48 by default like the independent run in issue 16); its CPU and memory are those of its
whole process tree (the server, the pocketsphinx fork server and workers). A level passes
when the p90 voice-to-voice stays under twice the single-session median (measured over
``--base-turns`` turns), every question gets a reply, and no reply has an audible gap
(underrun). The machine's load before each level is recorded: on a shared machine it moves
the verdict as much as the server does.

    python bench/capacity.py                   # writes "## Capacity" in docs/PERFORMANCE.md
    python bench/capacity.py --levels 1,4 --turns 2 --quick
    python bench/capacity.py --levels 1 --profile 8 --quick   # + a py-spy profile at 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from dataclasses import dataclass

import numpy as np
from memory import tree, tree_mem
from profile_cpu import profile
from transport_latency import (
    ROOT,
    Server,
    Turn,
    WsClient,
    ms,
    pct,
    progress,
    speak,
    write_section,
)

HEADING = "## Capacity"
# Questions the default agent answers, of 0.8-1.6 s: varied, as a real client's would be.
PHRASES = [
    "what can you do",
    "who are you",
    "how are you today",
    "what is your name",
    "can you help me",
    "tell me about yourself",
]


def machine_busy(seconds: float = 3.0) -> float:
    """Cores busy (all processes) over ``seconds``, from /proc/stat."""

    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    t0, i0 = read()
    time.sleep(seconds)
    t1, i1 = read()
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0))


@dataclass
class Level:
    n: int
    turns: list[Turn]
    cpu: float
    """Server tree CPU, in cores (1.0 = one core busy), over the level."""
    pss: float
    """Peak server tree PSS, MB."""
    load: float
    """Cores busy on the machine just before the level (other work included)."""
    clients: float = 0.0
    """This process's CPU (the clients, the sampling), in cores, over the level: on one
    machine it shares the cores with the server."""

    @property
    def latencies(self) -> list[float]:
        return [t.client for t in self.turns if t.client is not None]

    @property
    def missing(self) -> int:
        return sum(t.client is None for t in self.turns)

    @property
    def underruns(self) -> int:
        return sum(t.underruns for t in self.turns)


async def converse(
    url: str, speech: list[np.ndarray], turns: int, delay: float, first: int
) -> list[Turn]:
    await asyncio.sleep(delay)
    async with WsClient(url) as c:
        for i in range(turns):
            await c.turn(speech[(first + i) % len(speech)], interrupt=False)
        return c.turns


def cpu_by_pid(pid: int) -> dict[int, float]:
    out = {}
    for p, _depth in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


async def run_level(
    server: Server, speech: list[np.ndarray], n: int, turns: int, rng: random.Random
) -> Level:
    assert server.proc is not None
    pid = server.proc.pid
    load = await asyncio.to_thread(machine_busy)
    peak = tree_mem(pid)[0].pss
    start = cpu_by_pid(pid)
    last = dict(start)
    stop = asyncio.Event()

    async def sample() -> None:
        # Workers end with their sessions (their CPU is nobody's cutime: the fork server
        # ignores SIGCHLD), so each process's CPU is sampled while it lives.
        # Off the event loop: at 16 sessions one tree_mem (smaps_rollup of every process)
        # takes 30-130 ms, and in this loop it held every client's audio back that long.
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, (await asyncio.to_thread(tree_mem, pid))[0].pss)
            last.update(await asyncio.to_thread(cpu_by_pid, pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample(), name="capacity.sampler")
    t0, own0 = time.monotonic(), time.process_time()
    # Staggered over a reply's length: conversations overlap the way real ones do.
    clients = [
        asyncio.create_task(
            converse(server.ws_url, speech, turns, rng.uniform(0, 4.0), i),
            name=f"capacity.client{i}",
        )
        for i in range(n)
    ]
    results = await asyncio.gather(*clients)
    last.update(cpu_by_pid(pid))
    wall = time.monotonic() - t0
    cpu = sum(v - start.get(p, 0.0) for p, v in last.items()) / wall
    clients = (time.process_time() - own0) / wall
    stop.set()
    await sampler
    return Level(n, [t for r in results for t in r], cpu, peak, load, clients)


def passes(level: Level, base_median: float, *, underruns_ok: bool = False) -> bool:
    lat = level.latencies
    smooth = underruns_ok or level.underruns == 0
    return bool(lat) and level.missing == 0 and smooth and pct(lat, 0.9) <= 2 * base_median


def table(levels: list[Level], idle_pss: float) -> str:
    base = statistics.median(levels[0].latencies)
    out = [
        "| sessions | turns | no reply | v2v median | v2v p90 | underruns | machine busy before "
        f"| server tree CPU | clients' CPU | tree PSS (peak) | PSS per session "
        f"| p90 <= 2 x {ms(base)} | no underrun |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        lat = lv.latencies
        med = ms(statistics.median(lat)) if lat else "–"
        p90 = ms(pct(lat, 0.9)) if lat else "–"
        per = (lv.pss - idle_pss) / lv.n
        out.append(
            f"| {lv.n} | {len(lv.turns)} | {lv.missing} | {med} | {p90} | {lv.underruns} | "
            f"{lv.load:.2f} cores | {lv.cpu * 100:.0f} % of a core | "
            f"{lv.clients * 100:.0f} % of a core | {lv.pss:.0f} MB | "
            f"{per:.0f} MB | "
            f"{'yes' if passes(lv, base, underruns_ok=True) else 'no'} | "
            f"{'yes' if lv.underruns == 0 else 'no'} |"
        )
    return "\n".join(out)


async def run(
    levels: list[int],
    turns: int,
    base_turns: int,
    slots: int,
    profile_at: int,
    sets: list[str] | None = None,
) -> tuple[list[Level], float, str]:
    speech = [speak(p) for p in PHRASES]
    rng = random.Random(7)
    results: list[Level] = []
    profiled = ""
    with Server(max_sessions=slots, sets=sets or ()) as server:
        assert server.proc is not None
        progress("warming up")
        async with WsClient(server.ws_url) as c:
            await c.turn(speech[0], interrupt=True)
        await asyncio.sleep(1.0)
        idle_pss = tree_mem(server.proc.pid)[0].pss
        for n in levels:
            k = base_turns if n == 1 else turns
            progress(f"{n} concurrent session(s), {k} turns each ...")
            lv = await run_level(server, speech, n, k, rng)
            results.append(lv)
            lat = lv.latencies or [float("nan")]
            progress(
                f"  median {ms(statistics.median(lat))}, p90 {ms(pct(lat, 0.9))}, "
                f"no reply {lv.missing}, underruns {lv.underruns}, machine busy before "
                f"{lv.load:.2f} cores, CPU {lv.cpu * 100:.0f} % (clients "
                f"{lv.clients * 100:.0f} %), PSS {lv.pss:.0f} MB"
            )
            await asyncio.sleep(2.0)  # sessions close; workers end or return to the pool
        if profile_at:
            progress(f"profiling {profile_at} sessions (py-spy) ...")
            task = asyncio.create_task(run_level(server, speech, profile_at, turns, rng))
            profiled = await asyncio.to_thread(profile, server.proc.pid, 20.0)
            await task
    return results, idle_pss, profiled


def largest(levels: list[int], ok: list[int]) -> int:
    """The largest level that passes along with every smaller one."""
    return max((n for n in ok if all(m in ok for m in levels if m <= n)), default=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="1,2,4,6,8,10,12", help="comma-separated session counts")
    ap.add_argument("--turns", type=int, default=3, help="questions per client")
    ap.add_argument("--base-turns", type=int, default=10, help="turns of the 1-session level")
    ap.add_argument("--max-sessions", type=int, default=48, help="the server's session slots")
    ap.add_argument("--profile", type=int, default=0, help="py-spy profile at this level")
    ap.add_argument("--quick", action="store_true", help="print only, write nothing")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="serve --set (a variant)"
    )
    args = ap.parse_args()
    levels = sorted({int(x) for x in args.levels.split(",")})
    if levels[0] != 1:
        levels.insert(0, 1)  # the single-session median is the yardstick
    load0 = os.getloadavg()[0]
    results, idle_pss, profiled = asyncio.run(
        run(levels, args.turns, args.base_turns, args.max_sessions, args.profile, args.set)
    )
    load1 = os.getloadavg()[0]
    text = table(results, idle_pss)
    base = statistics.median(results[0].latencies)
    strict = largest(levels, [lv.n for lv in results if passes(lv, base)])
    timely = largest(levels, [lv.n for lv in results if passes(lv, base, underruns_ok=True)])
    print(text)
    print(f"capacity: {strict} sessions with no underrun; {timely} on latency alone")
    print(f"load average {load0:.1f} at the start, {load1:.1f} at the end")
    if profiled:
        print(profiled)
    if args.quick:
        return
    command = (
        f"python bench/capacity.py --max-sessions {args.max_sessions} --levels {args.levels} "
        f"--turns {args.turns} --base-turns {args.base_turns}"
        + (f" --profile {args.profile}" if args.profile else "")
        + "".join(f" --set {kv}" for kv in args.set)
    )
    where = (
        f"\n\nWhere the server tree's CPU goes at {args.profile} sessions (py-spy, 20 s; a "
        f"sample is a thread running or waiting for a core):\n\n{profiled}\n"
        if profiled
        else ""
    )
    section = f"""{HEADING}

`{command}` on {time.strftime("%Y-%m-%d")}, \
{os.cpu_count()}-core machine, Python {platform.python_version()}; load average {load0:.1f} at \
the start, {load1:.1f} at the end (the machine is shared: *machine busy before* is every \
process's CPU over the 3 s before each level, so read each row with it). One `causerie serve` \
(default offline agent); N WebSocket clients in the bench's process, starts staggered over \
4 s, each asking {args.turns} of {len(PHRASES)} espeak questions in real time \
({args.base_turns} for the single session, the yardstick) and listening to every reply to its \
end through the web page's player (40 ms pre-buffer, +20 ms after each underrun); *clients' \
CPU* is the bench's own process over the level (the clients and the sampling), on the same \
cores as the server. Idle server tree: {idle_pss:.0f} MB PSS.

{text}

**Capacity: {timely} concurrent sessions on latency** (p90 voice-to-voice, as heard, at most
twice the single-session median, every question answered), **{strict} with no underrun at
all**. Server tree CPU and PSS include the pocketsphinx fork server and workers (a worker
per open session, forked from the fork server, sharing its model).{where}
"""
    write_section(ROOT / "docs" / "PERFORMANCE.md", HEADING, section)
    progress(f"written: docs/PERFORMANCE.md ({HEADING})")


if __name__ == "__main__":
    main()
