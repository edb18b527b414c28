"""False cuts: turns the agent answers before the user has finished, next to the latency.

Each utterance has a mid-sentence pause: two halves of a sentence said by espeak-ng (two
voices), joined by 150, 275 or 400 ms of silence, and, with ``--human DIR``, the LibriVox
sentences of pocketsphinx's source package (their own natural pauses, counted here). They are
played at real-time pace through ``causerie talk``'s path (one session per variant, in its own
process), the silence after each reply skipped as ``talk --fast`` does.

A *false cut* is an utterance during which a reply became audible: its first audible sample
left after the utterance's first loud sample was pushed and before its last one was. Such a
reply answered half a sentence. *v2v* is the usual voice-to-voice latency: the utterance's last
loud sample pushed -> the first audible sample of the next reply.

    python bench/false_cut.py                   # writes its section of docs/PERFORMANCE.md
    python bench/false_cut.py --quick           # 12 espeak utterances, print only
    python bench/false_cut.py --variants pinned,endpointing-0.6 --human DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from perfdoc import write_section  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADING = "## False cuts (mid-sentence pauses)"
RATE = 16000
HALVES = [
    ("I would like", "two jars of acacia honey"),
    ("Can you tell me", "about the cheese from the mountains"),
    ("What is the price", "of the red wine"),
    ("Show me", "the chestnut honey please"),
    ("I think", "I will take the comte"),
    ("Could you help me", "find a present for my mother"),
    ("Tell me", "what you can do"),
    ("How much", "is the walnut oil"),
]
VOICES = [("en-us", 160), ("en-us+f2", 175)]
PAUSES_MS = [150, 275, 400]
GAP_S = 4.0  # after each utterance (skipped once the reply is over, as --fast does)
# Turn settings to compare (dotted agent.yaml fields, as `--set` takes them).
VARIANTS: dict[str, dict[str, Any]] = {
    "pinned": {},  # agent.yaml as shipped
    "endpointing-0.4": {"turn.min_endpointing_delay": 0.4},
    "endpointing-0.6": {"turn.min_endpointing_delay": 0.6},
    "vad-silence-0.4": {"vad.options.min_silence_duration": 0.4},
    "turn-model": {"turn.detection": "turn_model"},
    # The recognizer's language model: 0.2 s after a likely sentence end, 0.6 s otherwise.
    "lm-0.6": {"turn.detection": "lm", "turn.max_endpointing_delay": 0.6},
    # Half the VAD's silence (bench/latency.py --set: ~55 ms sooner), alone and with the lm.
    "vad-0.1": {"vad.options.min_silence_duration": 0.1, "turn.min_endpointing_delay": 0.1},
    "lm-fast": {
        "vad.options.min_silence_duration": 0.1,
        "turn.min_endpointing_delay": 0.1,
        "turn.detection": "lm",
        "turn.max_endpointing_delay": 0.6,
    },
}


def espeak_items(quick: bool) -> list[dict[str, Any]]:
    from tests.speech import speak

    items = []
    for v, (voice, wpm) in enumerate(VOICES):
        for a, b in HALVES:
            for p, pause in enumerate(PAUSES_MS):
                if quick and (v or p == 1):
                    continue
                first, second = (speak(t, RATE, voice, wpm, trim=True) for t in (a, b))
                gap = np.zeros(int(pause * RATE / 1000), dtype=np.int16)
                items.append(
                    {
                        "pcm": np.concatenate([first, gap, second]),
                        "label": f"{voice} {pause} ms",
                        "subset": "espeak",
                        "pauses": [pause],
                        "text": f"{a} {b}",
                    }
                )
        if quick:
            items = items[:12]
    return items


def inner_pauses(pcm: np.ndarray, lo: float = 0.15, hi: float = 0.4) -> list[int]:
    """Pauses of ``lo``-``hi`` s inside the speech, in ms: runs of 10 ms frames within 10 dB
    of the recording's own noise floor (its 5th percentile level)."""
    from causerie.audio.wav import frame_levels

    levels = frame_levels(pcm, RATE)
    quiet = levels < np.percentile(levels, 5) + 10.0
    loud = np.flatnonzero(~quiet)
    if not len(loud):
        return []
    out, run = [], 0
    for q in quiet[loud[0] : loud[-1] + 1]:
        if q:
            run += 1
            continue
        if lo * 100 <= run <= hi * 100:
            out.append(run * 10)
        run = 0
    return out


def human_items(data: Path) -> list[dict[str, Any]]:
    from causerie.audio.wav import read_wav

    items = []
    for wav in sorted((data / "librivox").glob("*.wav")):
        pcm = read_wav(wav, RATE).samples
        items.append(
            {
                "pcm": pcm,
                "label": wav.stem,
                "subset": "human (LibriVox)",
                "pauses": inner_pauses(pcm),
                "text": wav.with_suffix(".txt").read_text().strip(),
            }
        )
    return items


async def run_variant(overrides: dict[str, Any], wav: Path) -> dict[str, Any]:
    from causerie.audio.wav import read_wav
    from causerie.config import load_config
    from causerie.providers.registry import Registry
    from causerie.runtime import Conversation, Runtime
    from causerie.transports.file import IN_RATE, talk_conversation

    registry = Registry.from_entry_points()
    loaded = load_config(
        ROOT / "agent.yaml", environ={}, dotenv=None, overrides=overrides, registry=registry
    )
    runtime = await Runtime.build(loaded, registry)
    conversation = Conversation(runtime, transport="cli")
    result = await talk_conversation(
        conversation, read_wav(wav, IN_RATE), fast=True, printer=lambda s: None
    )
    await runtime.aclose()
    return {"utterances": result.utterances, "replies": result.reply_starts}


def score(utterances: list[list[float]], replies: list[float]) -> list[dict[str, Any]]:
    """Per utterance: cut (a reply audible while it was said) and v2v (to the next reply)."""
    out = []
    for start, end in utterances:
        cut = any(start < r < end for r in replies)
        after = [r - end for r in replies if r >= end]
        out.append({"cut": cut, "v2v": min(after) if after else None})
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="12 espeak utterances; print only")
    ap.add_argument("--human", type=Path, help="pocketsphinx sdist's test/data folder")
    ap.add_argument(
        "--variants",
        default="pinned,endpointing-0.6",
        help=f"comma-separated, from: {', '.join(VARIANTS)} (default: pinned,endpointing-0.6)",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--wav", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(run_variant(json.loads(args.child), args.wav))))
        return
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"--variants: unknown {unknown}; allowed: {', '.join(VARIANTS)}")

    from causerie.audio.wav import PCM, speech_segments, write_wav

    items = espeak_items(args.quick) + (human_items(args.human) if args.human else [])
    parts, spans, cursor = [np.zeros(RATE, dtype=np.int16)], [], 1.0
    for it in items:
        parts += [it["pcm"], np.zeros(int(GAP_S * RATE), dtype=np.int16)]
        spans.append((cursor, cursor + len(it["pcm"]) / RATE))
        cursor = spans[-1][1] + GAP_S
    audio = np.concatenate(parts)
    # talk plays speech_segments' utterances: a long pause splits an item into several.
    owner = [
        next(i for i, (a, b) in enumerate(spans) if a - 0.05 <= s < b + 0.05)
        for s, _ in speech_segments(audio, RATE)
    ]
    if sorted(set(owner)) != list(range(len(items))):
        raise SystemExit("false_cut: an utterance was not found in the audio")
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    wav = out / "bench_false_cut.wav"
    write_wav(wav, PCM(audio, RATE))
    total_pauses = sum(len(it["pauses"]) for it in items)
    print(
        f"false_cut: {len(items)} utterances, {total_pauses} inner pauses of 150-400 ms",
        file=sys.stderr,
    )
    rows: list[str] = []
    notes: list[str] = []
    for name in names:
        print(f"[{name}] real-time playback...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(VARIANTS[name]), "--wav", str(wav)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            raise SystemExit(f"[{name}] failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        played = res["utterances"]
        if len(played) != len(owner):
            raise SystemExit(f"[{name}] {len(played)} utterances played, {len(owner)} expected")
        whole = [
            [
                min(p[0] for p, o in zip(played, owner, strict=True) if o == i),
                max(p[1] for p, o in zip(played, owner, strict=True) if o == i),
            ]
            for i in range(len(items))
        ]
        scored = score(whole, res["replies"])
        for subset in dict.fromkeys(it["subset"] for it in items):
            mine = [s for s, it in zip(scored, items, strict=True) if it["subset"] == subset]
            cuts = [
                it["label"]
                for s, it in zip(scored, items, strict=True)
                if s["cut"] and it["subset"] == subset
            ]
            v2v = [s["v2v"] * 1000 for s in mine if s["v2v"] is not None and not s["cut"]]
            n_cut = sum(s["cut"] for s in mine)
            rows.append(
                f"| {name} | {subset} | {len(mine)} | {n_cut} ({100 * n_cut / len(mine):.1f} %) "
                f"| {len(v2v)} | {statistics.median(v2v) if v2v else float('nan'):.0f} ms "
                f"| {pct(v2v, 90):.0f} ms |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
            if cuts:
                print(f"  cut: {', '.join(cuts)}", file=sys.stderr)
        by_pause = []
        for pause in PAUSES_MS:
            these = [
                s
                for s, it in zip(scored, items, strict=True)
                if it["subset"] == "espeak" and it["pauses"] == [pause]
            ]
            by_pause.append(f"{pause} ms: {sum(s['cut'] for s in these)}/{len(these)}")
        notes.append(f"*{name}*, espeak false cuts by pause: {', '.join(by_pause)}.")
    settings = "; ".join(
        f"*{n}*: " + (", ".join(f"`{k}={v}`" for k, v in VARIANTS[n].items()) or "agent.yaml")
        for n in names
    )
    cmd = "python bench/false_cut.py" + (" --quick" if args.quick else "")
    cmd += f" --variants {','.join(names)}" + (" --human <sdist>/test/data" if args.human else "")
    text = "\n".join(
        [
            HEADING,
            "",
            f"`{cmd}` on {time.strftime('%Y-%m-%d')}, 2-core machine. Each utterance has a "
            "pause inside it: espeak halves of a sentence (two voices) joined by "
            f"{', '.join(map(str, PAUSES_MS))} ms of silence, and LibriVox sentences with their "
            f"own pauses ({total_pauses} pauses of 150-400 ms in all). A *false cut*: a reply "
            "became audible while the utterance was being said. *v2v*: last loud sample "
            "pushed -> first audible reply sample, over the utterances not cut. "
            f"Variants: {settings}.",
            "",
            "| variant | subset | utterances | false cuts | answered | v2v median | v2v p90 |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            " ".join(notes),
            "",
        ]
    )
    print(text)
    if not args.quick:
        write_section(ROOT / "docs" / "PERFORMANCE.md", HEADING, text)


if __name__ == "__main__":
    main()
