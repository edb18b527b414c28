"""A tiny Causerie WebSocket client: speak a WAV to the agent, print its events, save its voice.

    causerie serve &                       # in another terminal
    python examples/ws_client.py question.wav --out reply.wav

Needs only ``websockets`` and the standard library. The WAV must be 16 kHz mono 16-bit
(convert with ``sox in.wav -r 16000 -c 1 -b 16 question.wav``). Framing: docs/WEBSOCKET.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import wave

import websockets

RATE = 16000
FRAME_BYTES = 640  # 20 ms of 16 kHz s16le mono
FRAME_S = 0.02


async def talk(url: str, wav_path: str, out_path: str, tail: float) -> None:
    with wave.open(wav_path, "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise SystemExit(f"{wav_path}: need 16 kHz mono 16-bit PCM")
        pcm = w.readframes(w.getnframes())
    received = bytearray()

    async with websockets.connect(url, max_size=2**16) as ws:

        async def receive() -> None:
            async for msg in ws:
                if isinstance(msg, bytes):
                    received.extend(msg)  # the agent's voice, 640-byte frames
                    continue
                ev = json.loads(msg)
                if ev["type"] == "user_transcript" and ev["final"]:
                    print(f"you:   {ev['text']}")
                elif ev["type"] == "agent_transcript" and ev["final"]:
                    print(f"agent: {ev['text']}")
                elif ev["type"] == "turn_metrics" and ev.get("voice_to_voice") is not None:
                    print(f"       voice-to-voice {ev['voice_to_voice'] * 1000:.0f} ms")
                elif ev["type"] == "error":
                    print(f"error: {ev['code']}: {ev['message']}")

        reader = asyncio.create_task(receive(), name="ws_client.receive")
        # Stream at real time, then silence so the agent's VAD hears the end of speech.
        silence = bytes(FRAME_BYTES)
        frames = [
            pcm[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
            for i in range(0, len(pcm), FRAME_BYTES)
        ]
        frames += [silence] * int(tail / FRAME_S)
        start = time.monotonic()
        for i, frame in enumerate(frames):
            await ws.send(frame)
            await asyncio.sleep(max(0.0, start + (i + 1) * FRAME_S - time.monotonic()))
        await ws.close()
        await reader

    with wave.open(out_path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(received))
    print(f"agent audio: {out_path} ({len(received) / 2 / RATE:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wav", help="16 kHz mono 16-bit WAV to speak")
    ap.add_argument("--url", default="ws://localhost:8080/api/ws")
    ap.add_argument("--out", default="reply.wav")
    ap.add_argument("--tail", type=float, default=6.0, help="seconds of silence after the WAV")
    args = ap.parse_args()
    asyncio.run(talk(args.url, args.wav, args.out, args.tail))


if __name__ == "__main__":
    main()
