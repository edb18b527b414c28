"""The gateway against the in-process path, with the offline engines (pocketsphinx, espeak,
scripted LLM): transcription latency and real-time factor per request, speech time to first
audio byte, throughput at 1, 4 and 8 concurrent clients, and the voice-to-voice latency of an
agent whose STT, TTS and LLM are all the gateway (openai provider + base_url).

The gateway runs in its own process on loopback, as ``causerie gateway`` would; the clients
and the in-process engines run in this one.

    python bench/gateway.py          # writes its section of docs/PERFORMANCE.md
    python bench/gateway.py --quick  # fewer requests, no file written
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from perfdoc import pct, write_section  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADING = "## Speech gateway"
KEY = "bench-key"
VOICE = "en-us+f2"
WORKERS = 8
"""Speech decoders kept loaded, by the gateway and in-process alike (one per client)."""
QUESTIONS = [
    "What can you do?",
    "What time is it?",
    "Who are you?",
    "Can you help me?",
    "Tell me about yourself.",
    "What is your name?",
    "Good morning.",
    "Thank you very much.",
]
REPLIES = [
    "I can greet you, tell the time, and repeat what I said.",
    "It is ten past four.",
    "I'm Causerie, a scripted offline assistant.",
    "Of course, what do you need?",
    "You're welcome.",
    "Goodbye, and thanks for the chat!",
    "Sorry, I didn't catch that.",
    "Hello! How can I help you today?",
]


def serve(port: int) -> None:
    """Child process: the gateway over the project's agent.yaml."""
    import uvicorn
    from pydantic import SecretStr

    from causerie.config import load_config
    from causerie.gateway import GatewaySettings, create_gateway_app
    from causerie.providers.registry import Registry

    registry = Registry.from_entry_points()
    loaded = load_config(ROOT / "agent.yaml", environ={}, dotenv=None, registry=registry)
    settings = GatewaySettings(
        api_keys=[SecretStr(KEY)], max_concurrent_per_key=64, port=port, stt_workers=WORKERS
    )
    app = create_gateway_app(settings, loaded=loaded, registry=registry)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _wav(samples: Any) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def measure(base: str, quick: bool) -> dict[str, Any]:
    import httpx
    from livekit import rtc

    from causerie.agent.pipeline import build_pipeline
    from causerie.config import load_config
    from causerie.providers.registry import Registry
    from causerie.server.sessions import keep_stt_ready
    from tests.speech import conversation

    registry = Registry.from_entry_points()
    loaded = load_config(ROOT / "agent.yaml", environ={}, dotenv=None, registry=registry)
    local = await asyncio.to_thread(build_pipeline, loaded, registry)
    await keep_stt_ready(local.stt, WORKERS, None)
    pcms = [conversation([q], 16000, gap=0.3, lead=0.3, voice=VOICE) for q in QUESTIONS]
    wavs = [_wav(p) for p in pcms]
    seconds = [len(p) / 16000 for p in pcms]
    http = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)

    async def stt_gateway(i: int) -> None:
        files = {"file": ("q.wav", wavs[i])}
        r = await http.post("/v1/audio/transcriptions", files=files, data={"model": "pocketsphinx"})
        r.raise_for_status()

    async def stt_local(i: int) -> None:
        p = pcms[i]
        await local.stt.recognize(rtc.AudioFrame(p.tobytes(), 16000, 1, len(p)))

    async def tts_gateway(i: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        first = None
        body = {"model": "espeak", "input": REPLIES[i], "response_format": "pcm"}
        n = 0
        async with http.stream("POST", "/v1/audio/speech", json=body) as r:
            async for chunk in r.aiter_raw():
                first = first or time.perf_counter() - t0
                n += len(chunk)
        return first or float("nan"), n / 2 / 24000

    async def tts_local(i: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        first = None
        n = 0.0
        async with local.tts.synthesize(REPLIES[i]) as s:
            async for ev in s:
                first = first or time.perf_counter() - t0
                n += ev.frame.duration
        return first or float("nan"), n

    per_client = 2 if quick else 4

    async def client(c: int, fn: Any) -> float:
        """``per_client`` requests in a row; returns the seconds of audio handled."""
        done = 0.0
        for k in range(per_client):
            i = (c + k) % len(wavs)
            r = await fn(i)
            done += seconds[i] if r is None else r[1]
        return done

    # Each measurement alternates the two paths, so load from elsewhere hits both alike.
    paths = {
        "gateway (HTTP, loopback)": (stt_gateway, tts_gateway),
        "in-process": (stt_local, tts_local),
    }
    res: dict[str, dict[str, Any]] = {
        name: {"stt_ms": [], "rtf": [], "ttfb_ms": [], "load": {}} for name in paths
    }
    out: dict[str, Any] = {"paths": res, "load_avg": [os.getloadavg()[0]]}
    for stt, tts in paths.values():
        await stt(0)
        await tts(0)
    rounds = 1 if quick else 3
    print(f"per-request figures, {rounds} round(s)...", file=sys.stderr, flush=True)
    for _ in range(rounds):
        for i in range(len(wavs)):
            for name, (stt, _tts) in paths.items():
                took = await _timed(functools.partial(stt, i))
                res[name]["stt_ms"].append(took)
                res[name]["rtf"].append(took / seconds[i])
        for i in range(len(REPLIES)):
            for name, (_stt, tts) in paths.items():
                res[name]["ttfb_ms"].append((await tts(i))[0])
    for clients in (1, 4, 8):
        print(f"{clients} concurrent clients...", file=sys.stderr, flush=True)
        for kind in ("stt", "tts"):
            for name, fns in paths.items():
                fn = fns[0] if kind == "stt" else fns[1]
                t0 = time.perf_counter()
                audio = await asyncio.gather(*(client(c, fn) for c in range(clients)))
                wall = time.perf_counter() - t0
                res[name]["load"][(kind, clients)] = (
                    clients * per_client / wall,
                    sum(audio) / wall,
                )
    await http.aclose()
    out["v2v"] = await voice_to_voice(base, registry, loaded, local, quick)
    out["load_avg"].append(os.getloadavg()[0])
    await local.aclose()
    return out


async def voice_to_voice(base: str, registry: Any, loaded: Any, local: Any, quick: bool) -> Any:
    from causerie.agent.faults import Faults
    from causerie.agent.pipeline import build_pipeline, import_vendor_modules
    from causerie.agent.session import build_agent, build_session
    from causerie.audio.wav import PCM
    from causerie.config import load_config
    from causerie.transports.file import IN_RATE, talk
    from tests.gateway_harness import AGENT_YAML
    from tests.speech import conversation

    utts = QUESTIONS[:3] if quick else QUESTIONS[:4]
    pcm = PCM(conversation(utts, IN_RATE, gap=5.0, voice=VOICE), IN_RATE)
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "agent.yaml"
        conf.write_text(AGENT_YAML.format(base=base + "/v1", voice=VOICE))
        remote_conf = load_config(
            conf, environ={"OPENAI_API_KEY": KEY}, dotenv=None, registry=registry
        )
        import_vendor_modules(remote_conf, registry)  # livekit plugins: main thread only
        remote = await asyncio.to_thread(build_pipeline, remote_conf, registry)
    agents = (
        ("agent -> gateway (openai provider, base_url)", remote_conf, remote),
        ("agent in-process (streaming pocketsphinx)", loaded, local),
    )
    out: dict[str, list[float]] = {name: [] for name, _, _ in agents}
    for _ in range(1 if quick else 2):  # alternated, as above
        for name, conf_, pipe in agents:
            print(f"[v2v] {name}: {len(utts)} utterances...", file=sys.stderr, flush=True)
            result = await talk(
                build_session(conf_, pipe),
                build_agent(conf_, Faults()),
                pcm,
                fast=True,
                printer=lambda s: None,
            )
            out[name] += [t * 1000 for t in result.latencies]
    await remote.aclose()
    return out


def report(res: dict[str, Any], quick: bool) -> str:
    ms = 1000
    lines = [
        HEADING,
        "",
        f"`python bench/gateway.py` on {time.strftime('%Y-%m-%d')}, 2-core machine (shared). "
        "Engines: pocketsphinx, espeak, scripted LLM (agent.yaml). Load average (1 min) "
        f"{res['load_avg'][0]:.1f} at the start, {res['load_avg'][1]:.1f} at the end: "
        "other work shared the cores.",
        f"{WORKERS} speech decoders kept loaded on each side.",
        f"Transcription: {len(QUESTIONS)} espeak questions of 1.3-2.3 s, one request at a time, "
        f"{len(res['paths']['in-process']['stt_ms']) // len(QUESTIONS)} rounds, the two paths "
        "alternating; speech: time to the first byte of 24 kHz pcm.",
        "",
        "| path | transcription latency median / p90 | real-time factor median "
        "| speech first audio median / p90 |",
        "|---|---|---|---|",
    ]
    for name, r in res["paths"].items():
        lines.append(
            f"| {name} | {statistics.median(r['stt_ms']) * ms:.0f} / "
            f"{pct(r['stt_ms'], 0.9) * ms:.0f} ms | {statistics.median(r['rtf']):.3f} "
            f"| {statistics.median(r['ttfb_ms']) * ms:.1f} / {pct(r['ttfb_ms'], 0.9) * ms:.1f} ms |"
        )
    gw_, local = res["paths"].values()
    stt_extra = [a - b for a, b in zip(gw_["stt_ms"], local["stt_ms"], strict=True)]
    tts_extra = [a - b for a, b in zip(gw_["ttfb_ms"], local["ttfb_ms"], strict=True)]
    lines += [
        "",
        "What the gateway adds, paired request by request (median of gateway minus in-process, "
        f"same input, back to back): transcription {statistics.median(stt_extra) * ms:+.0f} ms, "
        f"speech first audio {statistics.median(tts_extra) * ms:+.1f} ms.",
    ]
    lines += [
        "",
        "Throughput (requests/s, and seconds of audio per second of wall time):",
        "",
        "| path | clients | transcriptions/s | audio in (s/s) | speech requests/s "
        "| audio out (s/s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in res["paths"].items():
        for c in (1, 4, 8):
            s_rps, s_aps = r["load"][("stt", c)]
            t_rps, t_aps = r["load"][("tts", c)]
            lines.append(
                f"| {name} | {c} | {s_rps:.2f} | {s_aps:.1f} | {t_rps:.1f} | {t_aps:.0f} |"
            )
    lines += [
        "",
        "Voice-to-voice, a spoken conversation from a WAV (`talk`, last loud input sample -> "
        "first audible reply sample):",
        "",
        "| agent | turns | median | p90 |",
        "|---|---|---|---|",
    ]
    for name, v in res["v2v"].items():
        if v:
            lines.append(
                f"| {name} | {len(v)} | {statistics.median(v):.0f} ms | {pct(v, 0.9):.0f} ms |"
            )
    lines += [
        "",
        "Over the gateway the agent's STT is livekit's OpenAI plugin, which transcribes whole "
        "utterances after the VAD's end of speech (no streaming), so the decode is added to "
        "every turn; in-process, pocketsphinx decodes while the user speaks.",
        "Compare figures within this section only: its two paths ran together, under the same "
        "load; the other sections were measured at other times.",
        "",
    ]
    if quick:
        lines.insert(2, "(--quick run: fewer requests)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer requests; print only")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the gateway did not start")
            time.sleep(0.2)
        res = asyncio.run(measure(base, args.quick))
    finally:
        child.terminate()
        child.wait(30)
    text = report(res, args.quick)
    print(text)
    if not args.quick:
        write_section(ROOT / "docs" / "PERFORMANCE.md", HEADING, text)


if __name__ == "__main__":
    main()
