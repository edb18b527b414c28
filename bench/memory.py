"""Memory per conversation, and what idle session slots cost: ``causerie serve`` and its
process tree (the server, the pocketsphinx fork server, its workers), from smaps_rollup.

For each level N, N WebSocket clients each hold a conversation open after one spoken
question and its reply (so each session's decoder has decoded speech). The tree's PSS and
USS are read while the N sessions are open; *per added session* is (tree at N - tree with
no session) / N. PSS splits shared pages between the processes that map them, so the
fork server's model is counted once, whatever the number of workers; USS is what each
process alone holds (what ending it would free). Idle: the tree's CPU over ``--idle`` s
with no conversation, and its PSS, with ``--max-sessions`` slots.

A short question never reaches the worker's spare decoder, which runs only once an utterance
outlasts the first later settle (2.8 s), so ``--long-levels`` repeats the measure with a
long sentence each (~6 s): what a session costs once its worker has run both decoders.

    python bench/memory.py                       # writes "## Memory" in docs/PERFORMANCE.md
    python bench/memory.py --levels 1,4 --long-levels 4 --quick
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from transport_latency import PHRASES, ROOT, Server, WsClient, progress, speak, write_section

HEADING = "## Memory"
# ~6 s each at espeak's rate 160: past both later settles (2.8, 4.5 s), so the spare runs.
LONG_PHRASES = [
    "i would like to know what you can do for me today and how you could help me with my plans",
    "tell me about yourself and about the things you can do when i ask you a long question",
]
TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[tuple[int, int]]:
    """``pid`` and its descendants, with their depth (0: ``pid``)."""
    out, todo = [], [(pid, 0)]
    while todo:
        p, depth = todo.pop()
        out.append((p, depth))
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                kids = Path(f"/proc/{p}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            todo.extend((int(x), depth + 1) for x in kids)
    return out


@dataclass
class Mem:
    rss: float = 0.0
    pss: float = 0.0
    uss: float = 0.0
    processes: int = 0

    def __add__(self, o: Mem) -> Mem:
        return Mem(
            self.rss + o.rss, self.pss + o.pss, self.uss + o.uss, self.processes + o.processes
        )

    def __sub__(self, o: Mem) -> Mem:
        return Mem(
            self.rss - o.rss, self.pss - o.pss, self.uss - o.uss, self.processes - o.processes
        )


def process_mem(pid: int) -> Mem:
    """MB, from /proc/PID/smaps_rollup (USS = private clean + private dirty)."""
    kb: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            kb[key] = int(value.split()[0])
    except (OSError, ValueError):
        return Mem()
    uss = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
    return Mem(kb.get("Rss", 0) / 1024, kb.get("Pss", 0) / 1024, uss / 1024, 1)


KINDS = ("server", "fork server (model)", "workers")
# sessions, the tree once they are open and idle (by kind), its peak PSS while they spoke
Row = tuple[int, Mem, dict[str, Mem], float]


def tree_mem(pid: int) -> tuple[Mem, dict[str, Mem]]:
    """The whole tree's memory, and by depth: the server, its children (the pocketsphinx
    fork server), their children (the workers)."""
    total, kinds = Mem(), dict[str, Mem]()
    for p, depth in tree(pid):
        m = process_mem(p)
        total += m
        kind = KINDS[min(depth, 2)]
        kinds[kind] = kinds.get(kind, Mem()) + m
    return total, kinds


def tree_cpu(pid: int) -> float:
    """CPU seconds of the tree's live processes (children's own, not reaped ones)."""
    total = 0
    for p, _depth in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


async def hold(url: str, pcm, opened: asyncio.Event, done: asyncio.Event, count: list[int]) -> None:  # type: ignore[no-untyped-def]
    async with WsClient(url) as c:
        await c.turn(pcm, interrupt=False)
        count[0] += 1
        if count[0] >= count[1]:
            opened.set()
        while not done.is_set():  # a live microphone: silence until told to hang up
            await c.silence_until(done.is_set, 5.0)


async def level(server: Server, speech: list, n: int) -> Row:  # type: ignore[type-arg]
    assert server.proc is not None
    pid = server.proc.pid
    opened, done = asyncio.Event(), asyncio.Event()
    count = [0, n]
    peak = [0.0]

    async def sample() -> None:  # while they speak: a decode's pages are held then
        while not opened.is_set():
            peak[0] = max(peak[0], (await asyncio.to_thread(tree_mem, pid))[0].pss)
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    clients = [
        asyncio.create_task(hold(server.ws_url, speech[i % len(speech)], opened, done, count))
        for i in range(n)
    ]
    await asyncio.wait_for(opened.wait(), 60 + 10 * n)
    await sampler
    await asyncio.sleep(1.0)
    mem, kinds = tree_mem(pid)
    done.set()
    await asyncio.gather(*clients)
    await asyncio.sleep(2.0)  # sessions end; their workers are given back or ended
    return n, mem, kinds, max(peak[0], mem.pss)


@dataclass
class Result:
    idle: Mem
    """No conversation yet: the server as started."""
    idle_cpu: float
    """The tree's CPU while idle, in cores."""
    base: Mem
    """After a warm-up conversation, none open."""
    rows: list[Row]
    long_rows: list[Row]
    """The same, each session after a long sentence (its worker's spare decoder ran)."""


async def run(
    levels: list[int],
    slots: int,
    idle_s: float,
    long_levels: list[int] | None = None,
    sets: list[str] | None = None,
) -> Result:
    speech = [speak(p) for p in PHRASES]
    long_speech = [speak(p) for p in LONG_PHRASES]
    with Server(max_sessions=slots, sets=sets or ()) as server:
        assert server.proc is not None
        pid = server.proc.pid
        await asyncio.sleep(2.0)
        idle, _ = tree_mem(pid)
        cpu0, t0 = tree_cpu(pid), time.monotonic()
        await asyncio.sleep(idle_s)
        idle_cpu = (tree_cpu(pid) - cpu0) / (time.monotonic() - t0)
        progress(f"idle: {idle}, CPU {100 * idle_cpu:.1f} % of a core")
        progress("warm-up conversation")
        await level(server, speech, 1)
        base, _ = tree_mem(pid)
        rows = []
        for n in levels:
            progress(f"{n} open conversation(s) ...")
            rows.append(await level(server, speech, n))
            report(rows[-1], base)
        long_rows = []
        for n in long_levels or []:
            progress(f"{n} open conversation(s), a long sentence each ...")
            long_rows.append(await level(server, long_speech, n))
            report(long_rows[-1], base)
    return Result(idle, idle_cpu, base, rows, long_rows)


def report(row: Row, base: Mem) -> None:
    n, mem, _, peak = row
    progress(
        f"  tree PSS {mem.pss:.0f} MB, USS {mem.uss:.0f} MB, RSS {mem.rss:.0f} MB, "
        f"{mem.processes} processes; per added session PSS "
        f"{(mem.pss - base.pss) / n:.1f} MB, USS {(mem.uss - base.uss) / n:.1f} MB; "
        f"while speaking, peak PSS {(peak - base.pss) / n:.1f} MB"
    )


def table(base: Mem, rows: list[Row]) -> str:
    out = [
        "| open sessions | processes | tree RSS | tree PSS | tree USS | server PSS "
        "| fork server PSS | workers PSS (USS) | PSS per added session | USS per added session "
        "| peak PSS per added session, while speaking |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| 0 | {base.processes} | {base.rss:.0f} MB | {base.pss:.0f} MB | {base.uss:.0f} MB "
        "| | | | | | |",
    ]
    for n, m, k, peak in rows:
        srv, fs, wk = (
            k.get("server", Mem()),
            k.get("fork server (model)", Mem()),
            k.get("workers", Mem()),
        )
        out.append(
            f"| {n} | {m.processes} | {m.rss:.0f} MB | {m.pss:.0f} MB | {m.uss:.0f} MB "
            f"| {srv.pss:.0f} MB | {fs.pss:.0f} MB | {wk.pss:.0f} MB ({wk.uss:.0f} MB) "
            f"| **{(m.pss - base.pss) / n:.1f} MB** | {(m.uss - base.uss) / n:.1f} MB "
            f"| {(peak - base.pss) / n:.1f} MB |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="1,4,8,16", help="comma-separated session counts")
    ap.add_argument(
        "--long-levels", default="4,8,16", help="session counts after a long sentence ('': none)"
    )
    ap.add_argument("--max-sessions", type=int, default=48, help="the server's session slots")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured")
    ap.add_argument("--quick", action="store_true", help="print only, write nothing")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="serve --set (a variant)"
    )
    args = ap.parse_args()
    levels = sorted({int(x) for x in args.levels.split(",")})
    long_levels = sorted({int(x) for x in args.long_levels.split(",") if x.strip()})
    load = os.getloadavg()[0]
    res = asyncio.run(run(levels, args.max_sessions, args.idle, long_levels, args.set))
    idle = res.idle
    text = table(res.base, res.rows)
    long_text = (
        "**After a long sentence each** (~6 s of speech: the worker's spare decoder ran; "
        "row 0 as above)\n\n" + table(res.base, res.long_rows)
        if res.long_rows
        else ""
    )
    idle_line = (
        f"Idle, {args.max_sessions} session slots and no conversation: {idle.processes} "
        f"processes, tree PSS {idle.pss:.0f} MB (USS {idle.uss:.0f} MB, RSS {idle.rss:.0f} MB), "
        f"CPU {100 * res.idle_cpu:.1f} % of a core over {args.idle:.0f} s."
    )
    print(text)
    print(long_text)
    print(idle_line)
    if args.quick:
        return
    section = f"""{HEADING}

`python bench/memory.py --max-sessions {args.max_sessions} --levels {args.levels} \
--long-levels {args.long_levels}{"".join(f" --set {kv}" for kv in args.set)}` on \
{time.strftime("%Y-%m-%d")}, {os.cpu_count()}-core machine, Python {platform.python_version()} \
(load average {load:.1f} at the start; memory figures do not depend on it). One `causerie serve` \
(default offline agent); N WebSocket clients each ask one spoken question, hear the reply, \
then keep the session open (streaming silence) while the tree is measured; its peak PSS \
while they spoke is sampled every 0.25 s. Memory from \
`/proc/PID/smaps_rollup` summed over the server and its descendants; USS = private \
clean + private dirty. Row 0: after a warm-up conversation, none open.

{text}

{long_text}

{idle_line}

Every pocketsphinx worker is forked from one fork server that loaded the model once, so the \
~90 MB model is shared copy-on-write: a worker's USS is the pages it wrote (search state, \
Python heap). The pool keeps 2 idle workers (`max_idle`) for the next sessions, so \
the 1-session row reuses one of them and adds almost nothing; from 4 up each added \
session is a new worker. A session whose worker heard a sentence past 2.8 s holds more: \
its spare decoder (which re-decodes the later settles, see "Memory of a speech worker") \
wrote its own search state too; `stt.options.spare_decoder: false` keeps one decoder per \
worker. Before (one spawned worker per slot, each loading its own model): ~100 MB \
per slot, and 48 idle slots held ~5.7 GB RSS.
"""
    write_section(ROOT / "docs" / "PERFORMANCE.md", HEADING, section)
    progress(f"written: docs/PERFORMANCE.md ({HEADING})")


if __name__ == "__main__":
    main()
