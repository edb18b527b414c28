"""What a pocketsphinx worker's spare decoder costs in memory: a forked worker's USS and PSS
(from smaps_rollup) before and after it heard long utterances, with and without its spare.

The spare (see causerie/providers/local/pocketsphinx_catchup.py) only runs when an utterance
outlasts the first later settle (2.8 s), so ``bench/memory.py``'s short questions never touch
it. Here each worker hears the longest human recording (7.1 s) ``--utterances`` times, in
real-time-sized chunks, each flushed: a decoder's search writes into pages it shares with
the fork server, which then become the worker's own.

    python bench/worker_memory.py --human /path/to/pocketsphinx-5.1.1/test/data
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import wave
from pathlib import Path

from perfdoc import write_section  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADING = "## Memory of a speech worker (its spare decoder)"
LONGEST = "librivox/sense_and_sensibility_01_austen_64kb-0870.wav"


def uss_pss(pid: int) -> tuple[float, float]:
    """(USS, PSS) of ``pid`` in MB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0].rstrip(":")] = int(parts[1])
    return (fields["Private_Clean"] + fields["Private_Dirty"]) / 1024, fields["Pss"] / 1024


async def measure(pcm: bytes, spare: bool, utterances: int) -> tuple[float, ...]:
    from causerie.providers.local.pocketsphinx_pool import DecoderPool
    from causerie.providers.local.pocketsphinx_stt import _DEFAULTS
    from causerie.providers.local.pocketsphinx_worker import RecognizerOptions

    pool = DecoderPool({**_DEFAULTS, "spare": spare}, fork=True)
    try:
        worker = await pool.acquire()
        before = uss_pss(worker.pid)
        await worker.request(("start", RecognizerOptions(16000, 0.3, None, 0, 30.0, flushed=True)))
        for _ in range(utterances):
            for i in range(0, len(pcm), 3200):  # 0.1 s per request
                await worker.request(("audio", [pcm[i : i + 3200]]))
            await worker.request(("audio", [None]))
        after = uss_pss(worker.pid)
        return (*before, *after)
    finally:
        await pool.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--human", type=Path, required=True, help="pocketsphinx-5.1.1/test/data")
    ap.add_argument("--utterances", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="print only, write nothing")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    args = ap.parse_args()
    with wave.open(str(args.human / LONGEST)) as w:
        pcm = w.readframes(w.getnframes())
    rows = [
        "| worker | USS before | USS after | PSS before | PSS after |",
        "|---|---|---|---|---|",
    ]
    for label, spare in [("with its spare (default)", True), ("`spare_decoder: false`", False)]:
        print(f"{label} ...", file=sys.stderr, flush=True)
        u0, p0, u1, p1 = asyncio.run(measure(pcm, spare, args.utterances))
        rows.append(f"| {label} | {u0:.1f} MB | {u1:.1f} MB | {p0:.1f} MB | {p1:.1f} MB |")
    table = "\n".join(rows)
    print(table)
    if args.quick:
        return
    text = (
        f"{HEADING}\n\n`python bench/worker_memory.py --human <pocketsphinx sdist>/test/data` "
        f"(2-core machine). A worker forked from the fork server, before and after it heard "
        f"the longest human recording (7.1 s) {args.utterances} times, each flushed. The "
        "spare runs only past the first later settle (2.8 s of an utterance), so "
        "`bench/memory.py`'s short questions do not show it. PSS splits the pages shared "
        "with the fork server (the models) between the processes that map them.\n\n" + table
    )
    write_section(args.out, HEADING, text)


if __name__ == "__main__":
    main()
