"""``python -m causerie.demo``: hear the offline agent with no microphone.

Makes a question WAV with espeak (three utterances), plays it into the agent at real-time
pace, prints the conversation and latencies, and writes the agent's reply to out/reply.wav.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def make_question(path: Path, utterances: list[str], gap: float = 6.0) -> Path:
    from .audio.wav import PCM, resample, write_wav
    from .providers.local.espeak_engine import get_engine

    eng = get_engine()
    # This voice is the one pocketsphinx understands best among espeak's (see docs/PERFORMANCE.md).
    parts = [np.zeros(8000, dtype=np.int16)]
    for text in utterances:
        parts.append(
            resample(eng.synthesize_pcm(text, voice="en-us+f2", rate=150), eng.sample_rate, 16000)
        )
        parts.append(np.zeros(int(gap * 16000), dtype=np.int16))
    write_wav(path, PCM(np.concatenate(parts), 16000))
    return path


def main() -> None:
    from .cli.main import main as cli_main

    out = Path("out")
    out.mkdir(exist_ok=True)
    question = make_question(
        out / "question.wav", ["Who are you?", "What can you do?", "What time is it?"]
    )
    print(f"generated {question} with espeak; playing it to the agent...", file=sys.stderr)
    cli_main(["talk", "--fast", "--input", str(question), "--output", str(out / "reply.wav")])


if __name__ == "__main__":
    main()
