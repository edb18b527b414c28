"""A second, independent capacity client, to check ``bench/capacity.py``'s verdict.

Shares no client code with the other benches: each of the N clients is an OS process of its
own (so the clients' CPU does not queue in one event loop), speaks its espeak questions in
real time over ``/api/ws`` (20 ms frames, paced by the clock), keeps the microphone live with
silence, and times voice-to-voice as last audible sample sent -> first audible reply frame
received (no player model). A turn unanswered within 10 s counts as unanswered. The clients
start staggered over 4 s once all their processes are up; their own CPU is reported, since
on one machine it shares the cores with the server. Run it against a server started with
``causerie serve --max-sessions 48``.

    python bench/capacity_independent.py --url ws://127.0.0.1:8000/api/ws --levels 1,4,8,12,16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import time

import numpy as np
from perfdoc import pct  # bench/ is on sys.path when run as a script

RATE, FRAME = 16000, 320
BOOT_S, BOOT_PER_CLIENT_S = 1.0, 0.25  # time given to the client processes to start
QUESTIONS = ["what can you do", "who are you", "how are you today", "what is your name"]


def loud(pcm: bytes | np.ndarray) -> bool:
    a = np.frombuffer(pcm, np.int16) if isinstance(pcm, bytes) else pcm
    return bool(len(a)) and int(np.abs(a.astype(np.int32)).max()) > 300


def espeak(text: str) -> np.ndarray:
    from causerie.audio.wav import resample
    from causerie.providers.local.espeak_engine import get_engine

    eng = get_engine()
    return resample(eng.synthesize_pcm(text, voice="en-us", rate=160), eng.sample_rate, RATE)


async def client(
    url: str, speech: list[np.ndarray], turns: int, start_at: float
) -> list[float | None]:
    import websockets

    await asyncio.sleep(max(0.0, start_at - time.time()))
    out: list[float | None] = []
    heard: list[float] = []  # arrival times of audible reply frames
    async with websockets.connect(url, max_size=2**16) as ws:
        while True:
            msg = await ws.recv()
            if isinstance(msg, str) and json.loads(msg).get("type") == "ready":
                break

        async def read() -> None:
            async for m in ws:
                if isinstance(m, bytes) and loud(m):
                    heard.append(time.monotonic())

        reader = asyncio.create_task(read())
        clock = time.monotonic()

        async def send(pcm: np.ndarray) -> float | None:
            nonlocal clock
            last = None
            pcm = np.pad(pcm, (0, -len(pcm) % FRAME))
            for i in range(0, len(pcm), FRAME):
                chunk = pcm[i : i + FRAME]
                await ws.send(chunk.tobytes())
                if loud(chunk):
                    last = time.monotonic()
                clock += FRAME / RATE
                await asyncio.sleep(max(0.0, clock - time.monotonic()))
            return last

        quiet = np.zeros(FRAME * 5, np.int16)
        for k in range(turns):
            clock = time.monotonic()
            await send(np.zeros(RATE // 2, np.int16))
            end = await send(speech[k % len(speech)])
            assert end is not None
            n = len(heard)
            while len(heard) == n and time.monotonic() - end < 10.0:
                await send(quiet)
            out.append(heard[n] - end if len(heard) > n else None)
            while heard and time.monotonic() - heard[-1] < 0.6:  # the reply plays out
                await send(quiet)
        reader.cancel()
    return out


def one_client(
    args: tuple[str, list[np.ndarray], int, float],
) -> tuple[list[float | None], bool, float]:
    """The client's turns, whether its process was up before its start time, and the CPU
    seconds its conversation took."""
    url, speech, turns, start_at = args
    on_time, cpu = time.time() <= start_at, time.process_time()
    turns_s = asyncio.run(client(url, speech, turns, start_at))
    return turns_s, on_time, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--levels", default="1,4,8,12,16")
    ap.add_argument("--turns", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(3)
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    print("| N | v2v p50 | v2v p90 | turns answered | clients' CPU |\n|---|---|---|---|---|")
    base = None
    # Made once, here: synthesising in every client would compete with the first turns.
    said = [espeak(q) for q in QUESTIONS]
    for n in [int(x) for x in args.levels.split(",")]:
        firsts = [i % len(said) for i in range(n)]
        # Starts staggered over 4 s, from when every client process is up: n interpreters
        # booting at once (~0.15 s of CPU each) would otherwise share the cores with the
        # first turns of the clients already talking, which a remote client never does.
        t0 = time.time() + BOOT_S + BOOT_PER_CLIENT_S * n
        jobs = [(args.url, said[k:] + said[:k], args.turns, t0 + rng.uniform(0, 4)) for k in firsts]
        with multiprocessing.get_context("spawn").Pool(n) as pool:
            done = pool.map(one_client, jobs)
        wall = time.time() - t0
        res = [x for r, _, _ in done for x in r]
        clients_cpu = sum(c for _, _, c in done) / wall
        late = sum(not on_time for _, on_time, _ in done)
        if late:
            print(f"({late} of {n} client processes were up only after their start time)")
        ok = [x for x in res if x is not None]
        p50, p90 = (statistics.median(ok), pct(ok, 0.9)) if ok else (float("nan"),) * 2
        base = base if base is not None else p50
        verdict = "pass" if ok and len(ok) == len(res) and p90 <= 2 * base else "fail"
        print(
            f"| {n} | {1000 * p50:.0f} ms | {1000 * p90:.0f} ms | {len(ok)}/{len(res)} "
            f"({verdict}: p90 <= 2 x {1000 * base:.0f} ms, all answered) "
            f"| {100 * clients_cpu:.0f} % of a core |",
            flush=True,
        )
        time.sleep(2.0)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
