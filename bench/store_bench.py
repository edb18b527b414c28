"""Store benchmark: what recording a turn costs the voice path, and how fast SQLite keeps up.

    python bench/store_bench.py [--turns 5000] [--enqueues 20000] [--redis redis://...]

1. BufferedStore enqueue: wall time of one ``add_turn_nowait`` (what the voice path pays),
   with the drain task running between calls, as median / p99 / max.
2. Sustained write rate in turn records per second, each turn its own committed write:
   awaited one after another (one writer's latency bound), and drained by BufferedStore.
   With ``--redis`` the same for Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from causerie.store import BufferedStore, SQLiteStore, Store, open_store
from causerie.store.observers import Observers
from causerie.store.records import SessionRecord, ToolCall, TurnRecord

TARGET_TURNS_PER_S = 200
ENQUEUE_BUDGET_S = 0.001


def make_turn(session_id: str, i: int) -> TurnRecord:
    """A realistic turn: two sentences of text, one tool call, every latency filled."""
    return TurnRecord(
        session_id=session_id,
        index=i,
        started_at=time.time(),
        ended_at=time.time() + 2.0,
        user_text="Could you add two of the blue mugs to my cart and tell me the total?",
        agent_text="Done: two blue mugs are in your cart, and the total comes to 24 euros.",
        stt_duration=0.41,
        stt_final_delay=0.12,
        end_of_utterance_delay=0.32,
        llm_ttft=0.21,
        llm_duration=0.64,
        llm_prompt_tokens=812,
        llm_completion_tokens=23,
        tts_ttfb=0.012,
        tts_duration=1.9,
        tool_calls=[ToolCall("add_to_cart", '{"sku": "MUG-BLUE", "qty": 2}', 0.003)],
        voice_to_voice=0.78,
        lk_e2e_latency=0.69,
    )


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_enqueue(store: Store, n: int, observers: Observers | None) -> list[float]:
    buffered = BufferedStore(store, max_pending=n + 10, observers=observers)
    buffered.start_session_nowait(SessionRecord("enqueue", time.time(), "cli", "bench"))
    turns = [make_turn("enqueue", i) for i in range(n)]
    timings = []
    clock = time.perf_counter
    for t in turns:
        start = clock()
        buffered.add_turn_nowait(t)
        timings.append(clock() - start)
        await asyncio.sleep(0)  # let the drain task run, as it would between audio frames
    await buffered.aclose(timeout=120)
    return timings


async def bench_sequential(store: Store, n: int) -> float:
    await store.start_session(SessionRecord("seq", time.time(), "cli", "bench"))
    start = time.perf_counter()
    for i in range(n):
        await store.add_turn(make_turn("seq", i))
    return n / (time.perf_counter() - start)


async def bench_drained(store: Store, n: int) -> float:
    buffered = BufferedStore(store, max_pending=n + 10)
    buffered.start_session_nowait(SessionRecord("drain", time.time(), "cli", "bench"))
    turns = [make_turn("drain", i) for i in range(n)]
    start = time.perf_counter()
    for t in turns:
        buffered.add_turn_nowait(t)
    assert await buffered.flush(timeout=300)
    rate = n / (time.perf_counter() - start)
    assert buffered.dropped == 0 and buffered.failures == 0
    return rate


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--turns", type=int, default=5000, help="turns per write-rate run")
    ap.add_argument("--enqueues", type=int, default=20000, help="turns for the enqueue timing")
    ap.add_argument("--redis", metavar="URL", help="also measure a Redis store at URL")
    args = ap.parse_args()

    rows: list[tuple[str, str, str]] = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for label, observers in (("no observer", None), ("1 observer", Observers(lambda r: None))):
            store = SQLiteStore(Path(tmp) / f"enqueue-{len(rows)}.sqlite3")
            timings = await bench_enqueue(store, args.enqueues, observers)
            median = statistics.median(timings)
            ok &= median < ENQUEUE_BUDGET_S
            rows.append(
                (
                    f"BufferedStore.add_turn_nowait, {label}",
                    f"median {median * 1e6:.1f} us, p99 {quantile(timings, 0.99) * 1e6:.1f} us, "
                    f"max {max(timings) * 1e6:.0f} us",
                    f"< {ENQUEUE_BUDGET_S * 1e3:.0f} ms",
                )
            )

        backends: list[tuple[str, Store, Store]] = [
            ("SQLite", SQLiteStore(Path(tmp) / "seq.sqlite3"), SQLiteStore(Path(tmp) / "d.sqlite3"))
        ]
        if args.redis:
            sep = "&" if "?" in args.redis else "?"
            backends.append(
                (
                    "Redis",
                    open_store(f"{args.redis}{sep}prefix=bench-seq-{time.time()}:"),
                    open_store(f"{args.redis}{sep}prefix=bench-drain-{time.time()}:"),
                )
            )
        for name, seq_store, drain_store in backends:
            async with seq_store:
                rate = await bench_sequential(seq_store, args.turns)
            ok &= name != "SQLite" or rate >= TARGET_TURNS_PER_S
            rows.append(
                (
                    f"{name} add_turn, awaited one by one",
                    f"{rate:,.0f} turns/s",
                    f">= {TARGET_TURNS_PER_S}/s",
                )
            )
            await drain_store.open()
            rate = await bench_drained(drain_store, args.turns)  # closes nothing: flush only
            await drain_store.close()
            rows.append(
                (
                    f"{name} via BufferedStore drain",
                    f"{rate:,.0f} turns/s",
                    f">= {TARGET_TURNS_PER_S}/s",
                )
            )

    widths = [max(len(r[i]) for r in [("measure", "result", "target"), *rows]) for i in range(3)]
    for row in [("measure", "result", "target"), tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print(
        f"\n{args.turns} turns per write-rate run, {args.enqueues} enqueues; "
        f"Python {sys.version.split()[0]}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
