"""The bench conversation through Pipecat (run in the peers venv by ``run.py``).

The same engines as Causerie, wrapped as Pipecat services: Causerie's pocketsphinx worker
process (same model, decoder settings and per-utterance options, flushed when Pipecat's VAD
hears the end of speech, as livekit's session flushes it), Causerie's scripted brain
(smalltalk) as the LLM, and libespeak-ng through Causerie's ctypes engine (same voice, rate
and pitch). The VAD is Pipecat's Silero in the user aggregator; the output transport plays
at real-time pace. Prints one JSON line (see ``livekit_child``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
import wave
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import czlocal  # first: mounts cz_local and cz_scripted (bench/peers/ is on sys.path)
import numpy as np
from cz_local.espeak_engine import EspeakEngine
from cz_local.pocketsphinx_worker import RecognizerOptions
from cz_scripted.brain import Reply, Turn
from cz_scripted.smalltalk import SmallTalk, fallback
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.task import PipelineParams
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import STTSettings, TTSSettings
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.time import time_now_iso8601
from pipecat.workers.runner import WorkerRunner
from proctree import PeakPss, cpu_seconds, pss_mb, tree

IN_RATE, OUT_RATE, FRAME_MS = 16000, 24000, 20
AUDIBLE = 300  # as Causerie's audio_io.AUDIBLE_THRESHOLD


class PocketsphinxSTT(STTService):
    """Causerie's worker process behind Pipecat's streaming STT interface."""

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(sample_rate=IN_RATE, settings=STTSettings(model=None, language=None), **kw)
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=czlocal.worker_main, args=(child, settings["decoder"]), daemon=True
        )
        self._proc.start()
        child.close()
        reply = self._conn.recv()  # ("ready", pid): loaded before the conversation starts
        if reply[0] != "ready":
            raise RuntimeError(f"pocketsphinx worker: {reply}")
        s = settings["stream"]
        opts = RecognizerOptions(
            sample_rate=s["sample_rate"],
            interim_interval=s["interim_interval"],
            endpoint_silence=s["endpoint_silence"],
            vad_mode=s["vad_mode"],
            max_utterance_s=s["max_utterance_s"],
            cmn_seed_s=s["cmn_seed_s"],
        )
        self._conn.send(("start", opts))
        self._conn.recv()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def can_generate_metrics(self) -> bool:
        return False

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._pump = self.create_task(self._decode(), name="pocketsphinx_pump")

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        # Queued, not awaited: the audio goes on downstream (to the VAD) at once, as with a
        # streaming cloud STT; transcripts are pushed when the worker answers.
        self._queue.put_nowait(audio)
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._queue.put_nowait(None)  # end of speech: finalize (in audio order)

    async def _decode(self) -> None:
        """One request in flight; what queued meanwhile goes in the next (as Causerie's)."""
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty() and len(items) < 200:
                items.append(self._queue.get_nowait())
            for ev in await self._request(("audio", items)):
                if ev[0] == "interim":
                    await self.push_frame(InterimTranscriptionFrame(ev[2], "", time_now_iso8601()))
                elif ev[0] == "final" and ev[2]:
                    if None in items:  # the flush's answer: STT has nothing more to send
                        self.request_finalize()
                        self.confirm_finalize()
                    await self.push_frame(TranscriptionFrame(ev[2], "", time_now_iso8601()))

    async def _request(self, msg: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self._conn.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            self._conn.send(msg)
            await ready
        finally:
            loop.remove_reader(fd)
        reply = self._conn.recv()
        if reply[0] != "events":
            raise RuntimeError(f"pocketsphinx worker: {reply}")
        return list(reply[1])

    async def cleanup(self) -> None:
        await super().cleanup()
        await self.cancel_task(self._pump)
        self._conn.close()
        self._proc.join(5)


class ScriptedLLM(FrameProcessor):
    """Causerie's scripted brain (smalltalk skill): the reply to the user's last message."""

    def __init__(self) -> None:
        super().__init__()
        self._skill = SmallTalk(agent_name="Causerie")
        self.commits: list[float] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        self.commits.append(time.time())
        msgs = [
            (m.get("role"), m.get("content"))
            for m in frame.context.get_messages()
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        ]
        user = next((c for r, c in reversed(msgs) if r == "user"), "")
        turn = Turn(user_text=user, language="en", tools=frozenset(), history=msgs[:-1])
        resp = self._skill.respond(turn)
        reply = resp.text if isinstance(resp, Reply) else fallback(turn).text
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(LLMTextFrame(reply))
        await self.push_frame(LLMFullResponseEndFrame())


class EspeakTTS(TTSService):
    """libespeak-ng through Causerie's engine: streamed chunks, as Causerie's espeak TTS."""

    def __init__(self) -> None:
        self._engine = EspeakEngine()
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=self._engine.sample_rate,
            settings=TTSSettings(model=None, voice="en-us", language=None),
        )

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        def speak() -> None:
            try:
                self._engine.synthesize(
                    text,
                    lambda pcm: loop.call_soon_threadsafe(queue.put_nowait, pcm.tobytes()),
                    voice="en-us",
                    rate=175,
                    pitch=50,
                )
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        job = asyncio.ensure_future(asyncio.to_thread(speak))
        while (chunk := await queue.get()) is not None:
            yield TTSAudioRawFrame(chunk, self._engine.sample_rate, 1, context_id=context_id)
        await job


class FileInput(BaseInputTransport):
    def __init__(self, params: TransportParams) -> None:
        super().__init__(params)
        self.started = asyncio.Event()

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        self.started.set()


class PacedOutput(BaseOutputTransport):
    """Plays at real-time pace, as a device would; notes when each reply becomes audible."""

    def __init__(self, params: TransportParams) -> None:
        super().__init__(params)
        self._play_at = 0.0
        self.last_write = 0.0  # wall time of the last audible frame played
        self.reply_starts: list[float] = []

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        now = time.monotonic()
        if self._play_at > now:
            await asyncio.sleep(self._play_at - now)
        self._play_at = max(self._play_at, now) + len(frame.audio) / 2 / frame.sample_rate
        if np.abs(np.frombuffer(frame.audio, dtype=np.int16)).max(initial=0) > AUDIBLE:
            t = time.time()
            if t - self.last_write > 0.3:
                self.reply_starts.append(t)
            self.last_write = t
        return True


class FileTransport(BaseTransport):
    def __init__(self, params: TransportParams) -> None:
        super().__init__()
        self._in, self._out = FileInput(params), PacedOutput(params)

    def input(self) -> FileInput:
        return self._in

    def output(self) -> PacedOutput:
        return self._out


def user_params(profile: str) -> LLMUserAggregatorParams:
    if profile == "default":  # Silero's defaults; turn stop: smart-turn v3 (Pipecat's default)
        return LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    # Tuned: Causerie's VAD silence (0.2 s) and no extra wait once the STT has finalized.
    return LLMUserAggregatorParams(
        vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=0.2)),
        user_turn_strategies=UserTurnStrategies(
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.0)]
        ),
    )


async def run(profile: str, wav: Path, segments: list[list[float]], stt: dict[str, Any]) -> dict:
    with wave.open(str(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    params = TransportParams(
        audio_in_enabled=True,
        audio_in_sample_rate=IN_RATE,
        audio_out_enabled=True,
        audio_out_sample_rate=OUT_RATE,
        audio_out_10ms_chunks=2,  # 20 ms frames, as Causerie's output
    )
    transport = FileTransport(params)
    llm = ScriptedLLM()
    pair = LLMContextAggregatorPair(LLMContext(), user_params=user_params(profile))
    pipeline = Pipeline(
        [
            transport.input(),
            PocketsphinxSTT(stt),
            pair.user(),
            llm,
            EspeakTTS(),
            transport.output(),
            pair.assistant(),
        ]
    )
    task = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=IN_RATE, audio_out_sample_rate=OUT_RATE),
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(task)
    running = asyncio.ensure_future(runner.run())
    await transport.input().started.wait()
    out = transport.output()
    pss_loaded = pss_mb(tree(os.getpid()))
    peak = PeakPss()
    cpu0, t0 = cpu_seconds(tree(os.getpid())), time.perf_counter()

    ends: list[float] = []
    spf = IN_RATE * FRAME_MS // 1000

    def done() -> bool:  # the last utterance answered (or given up on) and the line quiet
        if not ends:
            return True
        answered = any(r >= ends[-1] for r in out.reply_starts) or time.time() - ends[-1] > 5
        return answered and time.time() - out.last_write > 0.5

    clock = time.monotonic()
    seg = 0
    for i in range(0, len(pcm), spf):
        pos = i / IN_RATE
        nxt = segments[seg] if seg < len(segments) else None
        in_speech = nxt is not None and nxt[0] - 0.3 <= pos < nxt[1]
        # As talk(fast=True): skip a silent gap once the reply is done; speech is real time.
        if not in_speech and done() and (nxt is None or pos < nxt[0] - 0.3):
            continue
        chunk = pcm[i : i + spf]
        chunk = np.pad(chunk, (0, spf - len(chunk)))
        await transport.input().push_audio_frame(InputAudioRawFrame(chunk.tobytes(), IN_RATE, 1))
        if nxt is not None and pos + FRAME_MS / 1000 >= nxt[1]:
            ends.append(time.time())
            seg += 1
        clock += FRAME_MS / 1000
        await asyncio.sleep(max(0.0, clock - time.monotonic()))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not done():
        await transport.input().push_audio_frame(InputAudioRawFrame(bytes(spf * 2), IN_RATE, 1))
        clock += FRAME_MS / 1000
        await asyncio.sleep(max(0.0, clock - time.monotonic()))
    cpu = cpu_seconds(tree(os.getpid())) - cpu0
    wall = time.perf_counter() - t0
    pss_peak = peak.stop()
    await task.cancel()
    await running
    turns = []
    for c in llm.commits:  # each committed user turn: last utterance end -> first reply after
        end = max((e for e in ends if e <= c), default=None)
        reply = next((r for r in out.reply_starts if r >= c), None)
        turns.append({"v2v": reply - end if end and reply else None})
    return {
        "stack": f"pipecat-{profile}",
        "turns": turns,
        "utterances": len(ends),
        "cpu_s": cpu,
        "wall_s": wall,
        "pss_loaded_mb": pss_loaded,
        "pss_peak_mb": pss_peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("profile", choices=["default", "tuned"])
    ap.add_argument("wav", type=Path)
    ap.add_argument("spec", type=Path, help="JSON: speech segments and the STT's settings")
    args = ap.parse_args()
    spec = json.loads(args.spec.read_text())
    res = asyncio.run(run(args.profile, args.wav, spec["segments"], spec["stt_settings"]))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
