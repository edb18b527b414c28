"""The streaming recognizer's decode CPU with its first pass deferred (the default) and not.

``defer_first_pass`` (pocketsphinx_cmn): until an utterance's cepstral mean settles, only the
front end runs, and the words are decoded once, at the settle, under that mean. Not deferred,
they are decoded as they come, and again at the settle when the mean moved (a stream's first
utterance always). This bench runs the same corpus through the worker's recognizer both ways,
side by side in one process, the first configuration again at the end (how far CPU figures
drift within the run): WER, flush→FINAL in real time, and RTF (decode CPU / audio).

    python bench/stt_cpu.py --human <pocketsphinx sdist>/test/data   # writes its section
    python bench/stt_cpu.py --quick                                  # prints only
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from latency import UTTERANCES
from perfdoc import write_section
from stt_accuracy import (
    LEAD_S,
    ROOT,
    TAIL_S,
    at_level,
    cpu_row,
    espeak_sessions,
    human_sessions,
    run,
    total,
)

HEADING = "## Speech recognition CPU (deferred first pass)"
QUESTION_VOICES = [("en-us", 160), ("en-us+f2", 190), ("en-gb+m3", 150), ("en-us+m3", 175)]

Corpus = dict[str, list[list[tuple[np.ndarray, str]]]]


def question_sessions(voices: list[tuple[str, int]]) -> Corpus:
    """bench/latency.py's short questions, a session per voice (-20 dBFS peak)."""
    from tests.speech import speak

    sessions = []
    for voice, rate in voices:
        session = []
        for text in UTTERANCES:
            x = np.concatenate(
                [
                    np.zeros(int(LEAD_S * 16000)),
                    speak(text, 16000, voice=voice, rate=rate),
                    np.zeros(int(TAIL_S * 16000)),
                ]
            )
            session.append((np.round(at_level(x, -20)).astype(np.int16), text))
        sessions.append(session)
    return {"short questions, a session per voice": sessions}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--human", type=Path, help="pocketsphinx-5.1.1/test/data (from its sdist)")
    ap.add_argument("--quick", action="store_true", help="smaller corpus, no file written")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    args = ap.parse_args()

    from causerie.providers.local.pocketsphinx_worker import CMN_SEED_S

    voices = QUESTION_VOICES[:2] if args.quick else QUESTION_VOICES
    groups: dict[str, Corpus] = {"short questions": question_sessions(voices)}
    if args.human:
        groups["human (each file a session, then all as one)"] = human_sessions(args.human)
    groups["espeak sentences (the accuracy section's subsets)"] = espeak_sessions(args.quick)
    configs = [("deferred (default)", True), ("not deferred", False)]
    configs.append((configs[0][0] + ", again", True))
    load = os.getloadavg()[0]
    rows = []
    for label, defer in configs:
        print(f"{label} ...", file=sys.stderr, flush=True)
        for group, corpus in groups.items():
            t = total(run(corpus, CMN_SEED_S, defer=defer))
            rows.append(cpu_row(label, group, t))
            print(rows[-1], flush=True)
    cmd = "python bench/stt_cpu.py" + (
        " --human <pocketsphinx sdist>/test/data" if args.human else ""
    )
    section = (
        f"{HEADING}\n\n`{cmd}`, load average (1 min) {load:.1f} at the start. The worker's "
        "recognizer in this process, each session from a fresh worker's state, 20 ms chunks "
        "then a flush per utterance (as `bench/stt_accuracy.py`); *RTF*: decode CPU seconds "
        "per second of audio (silence around each utterance included). Compare the RTF of "
        "rows of this run only. Short questions: bench/latency.py's "
        f"{len(UTTERANCES)}, in {len(voices)} espeak voices. An app vocabulary's decoder "
        "pair decodes as it comes either way.\n\n"
        "| first pass | subset | words | streaming WER | batch WER "
        "| flush→FINAL p50 / p90 | RTF |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    print(section)
    if not args.quick:
        write_section(args.out, HEADING, section)


if __name__ == "__main__":
    main()
