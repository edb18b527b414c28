"""CI: the README's main command works on a fresh clone.

Starts `make demo` (the offline agent server) on a free port, waits for /healthz, speaks one
espeak question over the WebSocket transport, checks that the agent heard it and answered
out loud, then stops the server by its PID (its process group) and checks it exited.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import websockets

ROOT = Path(__file__).resolve().parent.parent
FRAME = 640  # 20 ms of 16 kHz s16 mono
START_TIMEOUT_S = 180.0
TURN_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def question_pcm() -> bytes:
    from causerie.audio.wav import resample
    from causerie.providers.local.espeak_engine import get_engine

    eng = get_engine()
    speech = eng.synthesize_pcm("What can you do?", voice="en-us+f2", rate=150)
    pcm = resample(speech, eng.sample_rate, 16000)
    pad = np.zeros(8000, dtype=np.int16)
    return np.concatenate([pad, pcm, pad]).astype(np.int16).tobytes()


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> dict[str, object]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"smoke: `make demo` exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return dict(json.loads(r.read()))
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"smoke: {url} not healthy after {START_TIMEOUT_S:.0f} s")


async def one_turn(url: str, pcm: bytes) -> dict[str, object]:
    heard: list[str] = []
    said: list[str] = []
    audio = bytearray()
    async with websockets.connect(url, max_size=2**20) as ws:
        done = asyncio.Event()

        async def receive() -> None:
            async for msg in ws:
                if isinstance(msg, bytes):
                    audio.extend(msg)
                    continue
                ev = json.loads(msg)
                if ev.get("type") == "user_transcript" and ev.get("final"):
                    heard.append(ev["text"])
                elif ev.get("type") == "agent_transcript" and ev.get("final") and heard:
                    said.append(ev["text"])
                    done.set()

        reader = asyncio.create_task(receive())
        frames = [pcm[i : i + FRAME].ljust(FRAME, b"\0") for i in range(0, len(pcm), FRAME)]
        start = time.monotonic()
        for i, f in enumerate(frames):  # real time, as a microphone would
            await ws.send(f)
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
        silence = bytes(FRAME)
        while not done.is_set() and time.monotonic() - start < TURN_TIMEOUT_S:
            await ws.send(silence)
            await asyncio.sleep(0.02)
        # Let the reply's audio arrive, then hang up.
        for _ in range(100):
            await ws.send(silence)
            await asyncio.sleep(0.02)
        await ws.close()
        reader.cancel()
    return {"heard": heard, "said": said, "audio_s": len(audio) / 2 / 16000}


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> int:
    port = free_port()
    env = dict(os.environ, CAUSERIE_PORT=str(port), CAUSERIE_HOST="127.0.0.1")
    # Its own process group, so the server under make is stopped with it, by PID.
    proc = subprocess.Popen(["make", "-s", "demo"], cwd=ROOT, env=env, start_new_session=True)
    print(f"smoke: started `make demo` as PID {proc.pid} on port {port}", flush=True)
    try:
        t0 = time.monotonic()
        health = wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        print(f"smoke: healthy after {time.monotonic() - t0:.1f} s: {health}", flush=True)
        result = asyncio.run(one_turn(f"ws://127.0.0.1:{port}/api/ws", question_pcm()))
        print(f"smoke: {result}", flush=True)
        if not result["heard"] or not result["said"] or not result["audio_s"]:
            print("smoke: FAILED: no complete spoken turn", file=sys.stderr)
            return 1
    finally:
        stop(proc)
    print(f"smoke: server stopped (exit {proc.returncode}); OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
