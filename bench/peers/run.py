"""Causerie against its peers: the same spoken conversation through each stack, one run.

Stacks, each in its own process, one after the other, on the same WAV (bench/latency.py's
espeak utterances, repeated to ``--turns``), played at real-time pace:

* ``causerie``: Causerie's session (agent.yaml's pinned turn settings);
* ``livekit-defaults``: plain livekit-agents ``AgentSession``, library defaults;
* ``pipecat-default``: pipecat-ai, Silero VAD and turn detection at Pipecat's defaults;
* ``pipecat-tuned``: the same, tuned as far as Pipecat allows for latency.

All use the same engines: streaming pocketsphinx (Causerie's worker, same settings), the
scripted brain, espeak. Voice-to-voice is measured from the audio: last loud input sample
pushed -> first audible output sample played. Pipecat needs its own virtualenv (its
dependencies conflict with livekit-agents')::

    python bench/peers/run.py --setup      # creates var/peers-venv with pipecat-ai
    python bench/peers/run.py              # all stacks; writes docs/PERFORMANCE.md "Peers"
    python bench/peers/run.py --quick      # 4 turns per stack, print only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from latency import UTTERANCES, pct  # noqa: E402
from perfdoc import write_section  # noqa: E402

PEER_PACKAGES = ["pipecat-ai[silero]==1.14.0", "pocketsphinx", "numpy", "espeakng-loader"]
STACKS = ["causerie", "livekit-defaults", "pipecat-default", "pipecat-tuned"]
SECTION = "## Peers (Pipecat, plain livekit-agents)"
CONFIGURATION = [
    "*v2v*: last loud input sample pushed -> first audible output sample played "
    "(bench/latency.py's measure; Pipecat: from the utterance's end to the first audible "
    "frame its output transport played after the turn was committed). *Turns answered*: "
    "committed turns that got a reply, out of the utterances played. *CPU per turn*: "
    "user + system CPU of the stack's process tree (STT workers included) over the "
    "conversation, divided by the turns answered. *PSS*: `/proc/PID/smaps_rollup` summed "
    "over the process tree, once loaded and at its peak "
    "(sampled every second), one conversation.",
    "",
    "How each stack was configured (all: the same WAV, 16 kHz in, 24 kHz out, 20 ms frames, "
    "output paced in real time; silent gaps skipped once a reply is done, as `talk --fast`):",
    "",
    "- **causerie**: `agent.yaml` as shipped (Silero VAD `min_silence_duration` 0.2 s, "
    "`turn.detection: vad`, fixed endpointing 0.2 s, preemptive generation on), through "
    "`causerie.transports.file.talk` (since round 15 with `record=False`: the replies are "
    "played, not kept, as in the Pipecat stacks).",
    "- **livekit-defaults**: `AgentSession(stt, llm, tts, vad=inference.VAD())`, every turn "
    "setting at livekit-agents' default, the same provider objects (as bench/latency.py).",
    "- **pipecat-default**: pipecat-ai 1.14.0 (own venv: `bench/peers/run.py --setup`). "
    "`LLMContextAggregatorPair(LLMContext(), user_params=LLMUserAggregatorParams("
    "vad_analyzer=SileroVADAnalyzer()))`: Silero at `VADParams()` defaults (confidence 0.7, "
    "start_secs 0.2, stop_secs 0.2, min_volume 0.6) and the default user-turn strategies "
    "(start: VAD or transcription; stop: `TurnAnalyzerUserTurnStopStrategy` with "
    "`LocalSmartTurnAnalyzerV3`, the smart-turn v3.2 model bundled in the wheel). Pipeline: "
    "input transport -> STT -> user aggregator -> scripted LLM -> TTS -> output transport "
    "-> assistant aggregator, run by `PipelineWorker` (RTVI off) and `WorkerRunner`.",
    "- **pipecat-tuned**: the same, with `SileroVADAnalyzer(params=VADParams(stop_secs=0.2))` "
    "(Causerie's VAD silence) and `UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy("
    "user_speech_timeout=0.0)])`: the turn ends as soon as the VAD has stopped and the STT's "
    "finalized transcript is in (the STT marks its flush answer finalized, which "
    "short-circuits the strategy's STT timeout). No smart-turn inference.",
    "",
    "The engines, wrapped as Pipecat services (bench/peers/pipecat_child.py): *STT*, an "
    "`STTService` over Causerie's own pocketsphinx worker process (the same module, decoder "
    "settings and per-utterance options, read from Causerie's built pipeline), audio queued "
    "to it without waiting (one request in flight, what queued meanwhile batched, as "
    "Causerie's stream does) and flushed on `VADUserStoppedSpeakingFrame`, as livekit's "
    "session flushes it; interims and finals pushed as Pipecat frames. *LLM*: a "
    "`FrameProcessor` answering each `LLMContextFrame` with Causerie's scripted brain "
    "(smalltalk skill, the same reply text). *TTS*: a `TTSService` streaming libespeak-ng's "
    "chunks through Causerie's ctypes engine (voice en-us, rate 175, pitch 50), resampled to "
    "24 kHz by Pipecat (output in 20 ms chunks: `audio_out_10ms_chunks=2`). The "
    "input transport is a `BaseInputTransport` fed the WAV in real time; the output one a "
    "`BaseOutputTransport` whose `write_audio_frame` plays at real-time pace.",
    "",
    "Differences left: Causerie's STT worker is forked from a fork server that loaded the "
    "model once (its PSS is shared between sessions; see Memory); the Pipecat stack spawns "
    "one worker. Pipecat's VAD runs in the user aggregator, after the STT, as its "
    "examples do. Per-session memory at N sessions is not measured for Pipecat here.",
    "",
    "On a loaded machine the figures say little about turn-taking: pocketsphinx decodes at "
    "~0.3 of a core when idle, so with a load average well above the 2 cores its worker falls "
    "behind real time and every stack waits for the STT's final (each stack's spread, and its "
    "p90, show it). livekit's default endpointing waits ~2.5 s anyway, which hides that lag. "
    "The <= 0.5x target needs a run on an idle machine.",
    "",
]


def setup(venv: Path) -> None:
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEER_PACKAGES], check=True)


def child(cmd: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    v2v = [t["v2v"] * 1000 for t in res["turns"] if t["v2v"] is not None]
    return {
        "n": len(v2v),
        "utterances": res["utterances"],
        "median": statistics.median(v2v) if v2v else float("nan"),
        "p90": pct(v2v, 0.9) if v2v else float("nan"),
        "cpu_turn": res["cpu_s"] / max(1, len(v2v)),
        "pss_loaded": res["pss_loaded_mb"],
        "pss_peak": res["pss_peak_mb"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--setup", action="store_true", help="create the Pipecat venv and exit")
    ap.add_argument("--venv", type=Path, default=ROOT / "var" / "peers-venv")
    ap.add_argument("--turns", type=int, default=24, help="utterances per stack (default 24)")
    ap.add_argument("--quick", action="store_true", help="4 turns per stack; print only")
    ap.add_argument("--stacks", default=",".join(STACKS), help="comma-separated subset")
    ap.add_argument(
        "--report", action="store_true", help="rewrite the section from the last run's results"
    )
    args = ap.parse_args()
    if args.setup:
        setup(args.venv)
        return
    saved = ROOT / "out" / "bench_peers.json"
    if args.report:
        run = json.loads(saved.read_text())
        text = report(**run)
        print(text)
        if not run["quick"]:
            write_section(ROOT / "docs" / "PERFORMANCE.md", SECTION, text)
        return
    peer_python = args.venv / "bin" / "python"
    stacks = [s for s in args.stacks.split(",") if s]
    if any(s.startswith("pipecat") for s in stacks) and not peer_python.exists():
        sys.exit(f"no Pipecat venv at {args.venv}: run `python bench/peers/run.py --setup`")

    from causerie.audio.wav import read_wav, speech_segments
    from tests.speech import write_speech_wav

    n = 4 if args.quick else args.turns
    utts = [UTTERANCES[i % len(UTTERANCES)] for i in range(n)]
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    wav = write_speech_wav(out / "bench_peers.wav", utts, gap=7.0)
    segments = speech_segments(read_wav(wav, 16000).samples, 16000)
    load_start = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    stt_settings: dict[str, Any] | None = None
    for stack in stacks:
        print(f"[{stack}] {n} utterances, real-time playback...", file=sys.stderr, flush=True)
        if stack.startswith("pipecat"):
            if stt_settings is None:  # Causerie's own, read from its built pipeline
                stt_settings = child(
                    [sys.executable, str(HERE / "livekit_child.py"), "settings", str(wav)]
                )["stt_settings"]
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump({"segments": segments, "stt_settings": stt_settings}, f)
            profile = stack.removeprefix("pipecat-")
            res = child(
                [str(peer_python), str(HERE / "pipecat_child.py"), profile, str(wav), f.name]
            )
            os.unlink(f.name)
        else:
            res = child([sys.executable, str(HERE / "livekit_child.py"), stack, str(wav)])
            stt_settings = stt_settings or res.get("stt_settings")
        results[stack] = res
        s = summarize(res)
        print(f"[{stack}] {s['n']} turns, median {s['median']:.0f} ms", file=sys.stderr)
    load_end = os.getloadavg()
    run = {
        "results": results,
        "stt": stt_settings,
        "n": n,
        "load_start": load_start,
        "load_end": load_end,
        "quick": args.quick or set(stacks) != set(STACKS),
        "date": time.strftime("%Y-%m-%d"),
    }
    saved.write_text(json.dumps(run))
    text = report(**run)
    print(text)
    if not run["quick"]:
        write_section(ROOT / "docs" / "PERFORMANCE.md", SECTION, text)


def report(
    results: dict[str, dict[str, Any]],
    stt: dict[str, Any] | None,
    n: int,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    quick: bool,
    date: str,
) -> str:
    sums = {k: summarize(v) for k, v in results.items()}
    ours = sums.get("causerie")
    cmd = "python bench/peers/run.py" + (" --quick" if quick else "")
    cmd += f" --turns {n}" if not quick and n != 24 else ""
    lines = [
        SECTION,
        "",
        f"`{cmd}` on {date}, 2-core machine"
        f"{' shared with other work' if load_start[0] > 1.5 else ''} "
        f"(load average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end): "
        "compare the stacks with each other, in this run only.",
        f"{n} espeak utterances (bench/latency.py's, repeated) played at real-time pace "
        "to each stack in turn, each in its own process.",
        "",
        "| stack | turns answered | v2v median | v2v p90 | median vs Causerie "
        "| CPU per turn | PSS loaded | PSS peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in sums.items():
        ratio = s["median"] / ours["median"] if ours and ours["median"] else float("nan")
        lines.append(
            f"| {name} | {s['n']}/{n} | {s['median']:.0f} ms | {s['p90']:.0f} ms "
            f"| {ratio:.2f}x | {s['cpu_turn']:.2f} s | {s['pss_loaded']:.0f} MB "
            f"| {s['pss_peak']:.0f} MB |"
        )
    peers = {k: v for k, v in sums.items() if k.startswith("pipecat")}
    if ours and peers:
        best = min(peers, key=lambda k: peers[k]["median"])
        b = peers[best]
        lines += [
            "",
            f"Causerie / best-tuned peer ({best}), median voice-to-voice: "
            f"**{ours['median'] / b['median']:.2f}x** (target <= 0.5x); peak PSS "
            f"{ours['pss_peak']:.0f} MB against {b['pss_peak']:.0f} MB "
            "(target: less memory per conversation).",
        ]
    lines += ["", *CONFIGURATION]
    if stt:
        lines += [f"STT settings on every stack: `{json.dumps(stt, sort_keys=True)}`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
