"""One livekit-agents stack on the bench WAV (run in the main venv by ``run.py``).

``causerie``: Causerie's session (agent.yaml's pinned turn settings); ``livekit-defaults``:
a plain ``AgentSession`` with the same providers and the library's default VAD and turn
handling, as ``bench/latency.py`` builds them. Prints one JSON line: per-turn latencies, the
process tree's CPU over the conversation and its peak PSS, and the STT's settings (so the
Pipecat stack decodes with the very same ones).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from proctree import PeakPss, cpu_seconds, pss_mb, tree  # noqa: E402  (bench/peers/ on path)


async def run(mode: str, wav: Path) -> dict[str, Any]:
    from livekit.agents.voice import AgentSession

    from causerie.agent.faults import Faults
    from causerie.agent.pipeline import build_pipeline
    from causerie.agent.session import build_agent, build_session
    from causerie.audio.wav import read_wav
    from causerie.config import load_config
    from causerie.providers.registry import Registry
    from causerie.transports.file import IN_RATE, talk

    registry = Registry.from_entry_points()
    loaded = load_config(ROOT / "agent.yaml", environ={}, dotenv=None, registry=registry)
    pipeline = await asyncio.to_thread(build_pipeline, loaded, registry)
    if mode in ("causerie", "settings"):
        session = build_session(loaded, pipeline)
    else:  # as bench/latency.py: same providers, the library's default VAD and turn handling
        from livekit.agents import inference

        session = AgentSession(
            stt=pipeline.stt, llm=pipeline.llm, tts=pipeline.tts, vad=inference.VAD()
        )
    stt: Any = pipeline.stt
    stt_settings = {"decoder": dict(stt.pool.config), "stream": asdict(stt._opts)}
    if mode == "settings":  # only the STT's settings, for the Pipecat stack
        await pipeline.aclose()
        return {"stt_settings": stt_settings}
    pcm = read_wav(wav, IN_RATE)
    pss_loaded = pss_mb(tree(os.getpid()))
    peak = PeakPss()
    cpu0, t0 = cpu_seconds(tree(os.getpid())), time.perf_counter()
    result = await talk(
        session,
        build_agent(loaded, Faults()),
        pcm,
        fast=True,
        printer=lambda s: None,
        record=False,  # as the Pipecat stacks: the replies are played, not kept
    )
    cpu = cpu_seconds(tree(os.getpid())) - cpu0
    wall = time.perf_counter() - t0
    pss_peak = peak.stop()
    await pipeline.aclose()
    return {
        "stack": mode,
        "turns": [
            {"user": t.user_text, "agent": t.agent_text, "v2v": t.voice_to_voice}
            for t in result.turns
        ],
        "utterances": len(result.turns),
        "cpu_s": cpu,
        "wall_s": wall,
        "pss_loaded_mb": pss_loaded,
        "pss_peak_mb": pss_peak,
        "stt_settings": stt_settings,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=["causerie", "livekit-defaults", "settings"])
    ap.add_argument("wav", type=Path)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.mode, args.wav)), default=str))


if __name__ == "__main__":
    main()
