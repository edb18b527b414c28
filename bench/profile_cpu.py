"""Where a server's CPU goes: a py-spy profile of a process tree, by pipeline stage.

``py-spy record --subprocesses`` samples the server and its children (the pocketsphinx fork
server's workers) at 100 Hz; only threads not blocked are sampled: running, or waiting for
a core (on a busy machine) or the GIL, so the shares are of demand, not of CPU granted.
Each stack is put in the first stage it mentions, in this order: STT (pocketsphinx), VAD
(silero, onnxruntime), TTS (espeak), transport (WebSocket, uvicorn, the audio adapters),
livekit-agents (the session machinery), event loop (asyncio alone).

    python bench/profile_cpu.py PID [SECONDS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RATE = 100
STAGES = [
    ("STT decoding (workers)", ("pocketsphinx_worker", "pocketsphinx_forkserver")),
    ("STT stream (server side)", ("pocketsphinx",)),
    ("VAD (silero)", ("silero", "onnxruntime", "/vad.py", "inference/vad")),
    ("TTS (espeak)", ("espeak",)),
    (
        "transport (WebSocket, audio I/O)",
        ("websocket", "uvicorn", "h11", "starlette", "transports/", "audio_io"),
    ),
    ("livekit-agents (session, resampling)", ("livekit",)),
    ("event loop (asyncio)", ("asyncio",)),
]


def stage(stack: str) -> str:
    for name, keys in STAGES:
        if any(k in stack for k in keys):
            return name
    return "other"


def profile(pid: int, seconds: float) -> str:
    """A markdown table: samples and cores per stage, over ``seconds`` of ``pid``'s tree."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return "(py-spy not installed: pip install py-spy)"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.txt"
        cmd = [spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
               "--format", "raw", "--rate", str(RATE), "--duration", str(int(seconds)),
               "--output", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lines = out.read_text().splitlines()
    by: dict[str, int] = {}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if stack:
            by[stage(stack)] = by.get(stage(stack), 0) + int(count)
    total = sum(by.values()) or 1
    rows = ["| stage | samples | share | threads active (mean) |", "|---|---|---|---|"]
    for name, n in sorted(by.items(), key=lambda kv: -kv[1]):
        rows.append(f"| {name} | {n} | {100 * n / total:.0f} % | {n / RATE / seconds:.2f} |")
    rows.append(f"| all | {total} | 100 % | {total / RATE / seconds:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    print(profile(int(sys.argv[1]), seconds))
