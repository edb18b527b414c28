"""Streaming TTS on the in-process libespeak-ng engine (:mod:`.espeak_engine`).

espeak makes speech about a thousand times faster than real time and hands it over in
~60 ms chunks, so the only latency that matters is how soon we give it text. Synthesis runs
on one worker thread (the engine is process-global and locked); chunks hop to the event loop
with ``call_soon_threadsafe`` and reach the session as they are made.

``stream()`` is native rather than livekit's StreamAdapter: the adapter's sentence tokenizer
holds a sentence back until the *next* one starts and merges sentences under 20 characters,
whereas we start speaking at the first clause boundary and then batch whole sentences.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from pydantic import ValidationInfo, field_validator

from ...compat.livekit import mark_tts_started
from ...config.options import Options, given
from ...config.spec import ProviderSpec
from ...errors import ProviderError
from ..info import BuildContext, ProviderInfo
from .espeak_engine import EspeakEngine, EspeakError, get_engine

# One thread: the engine serializes anyway, and a job cancelled while queued never starts.
_executor: tuple[int, ThreadPoolExecutor] | None = None
_ABORT_WAIT = 1.0  # seconds to wait for the worker to notice a stop (takes < 1 ms)

_INT_OPTIONS: dict[str, tuple[int, int, str]] = {
    "rate": (80, 450, "words per minute"),
    "pitch": (0, 99, "espeak pitch"),
    "volume": (0, 200, "percent, 100 is normal"),
    "sample_rate": (8000, 48000, "Hz"),
}
_DEFAULTS = {"rate": 175, "pitch": 50, "volume": 100}

# espeak ranks en-gb first for "en"; an agent that says "en" means American English.
_PREFERRED = {"en": "en-us", "fr": "fr-fr"}
_CLOSEST = {
    "en-au": "en-gb",
    "en-nz": "en-gb",
    "en-ie": "en-gb",
    "en-za": "en-gb",
    "en-in": "en-gb",
    "en-ca": "en-us",
    "fr-ca": "fr-fr",
    "fr-lu": "fr-be",
}


@dataclass(frozen=True)
class _Options:
    voice: str  # as the user wrote it
    voice_id: str  # what espeak_SetVoiceByName takes
    rate: int
    pitch: int
    volume: int
    sample_rate: int


def _int_option(name: str, value: Any) -> int:
    try:
        return _int_in_range(name, value)
    except ValueError as e:
        raise ProviderError(f"tts.options.{name}: {e}") from None


def _int_in_range(name: str, value: Any) -> int:
    lo, hi, unit = _INT_OPTIONS[name]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not float(value).is_integer() or not lo <= value <= hi:
        raise ValueError(f"must be an integer from {lo} to {hi} ({unit}), got {value!r}")
    return int(value)


def voices_for(engine: EspeakEngine, language: str) -> list[str]:
    """Voice names (language codes) espeak has for ``language``'s base language."""
    base = language.lower().split("-")[0]
    names = {
        v.languages[0]
        for v in engine.voices()
        if v.languages and any(lang.split("-")[0] == base for lang in v.languages)
    }
    return sorted(names)


def default_voice(engine: EspeakEngine, language: str) -> str:
    lang = language.strip().lower().replace("_", "-")
    base = lang.split("-")[0]
    for cand in (_PREFERRED.get(lang), lang, _CLOSEST.get(lang), _PREFERRED.get(base), base):
        if cand and engine.resolve_voice(cand):
            return cand
    raise ProviderError(f"espeak has no voice for language {language!r}; set tts.voice")


def _unknown_voice(engine: EspeakEngine, voice: str, language: str) -> ProviderError:
    base, plus, variant = voice.partition("+")
    if plus and engine.find_voice(base):
        # The plain female/male variants (f1.., m1..) first: the rest are novelty voices.
        names = sorted(engine.variants(), key=lambda v: (re.fullmatch(r"[fm]\d", v) is None, v))
        return ProviderError(
            f"unknown espeak voice variant {variant!r} in {voice!r}; "
            f"variants include: {', '.join(names[:14])}, ..."
        )
    # 'fr-ca' lists the French voices; 'klingon' those of the agent's language.
    lang = base.split("-")[0] if voices_for(engine, base) else language
    known = ", ".join(voices_for(engine, lang)[:12]) or "(none)"
    return ProviderError(
        f"unknown espeak voice {voice!r}; voices for {lang!r}: {known} "
        "(a variant may follow '+', e.g. 'en-us+f3')"
    )


def _worker() -> ThreadPoolExecutor:
    # Per process: a child forked (forkserver) after the thread started would inherit a
    # pool whose thread does not exist there.
    global _executor
    if _executor is None or _executor[0] != os.getpid():
        _executor = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="espeak"))
    return _executor[1]


class EspeakTTS(tts.TTS):
    def __init__(
        self,
        *,
        voice: str | None = None,
        language: str = "en",
        rate: int = _DEFAULTS["rate"],
        pitch: int = _DEFAULTS["pitch"],
        volume: int = _DEFAULTS["volume"],
        sample_rate: int | None = None,
    ) -> None:
        engine = get_engine()
        voice = voice.strip() if voice else default_voice(engine, language)
        voice_id = engine.resolve_voice(voice)
        if voice_id is None:
            raise _unknown_voice(engine, voice, language)
        out_rate = engine.sample_rate
        if sample_rate is not None:
            out_rate = _int_option("sample_rate", sample_rate)
        self._opts = _Options(
            voice=voice,
            voice_id=voice_id,
            rate=_int_option("rate", rate),
            pitch=_int_option("pitch", pitch),
            volume=_int_option("volume", volume),
            sample_rate=out_rate,
        )
        self._engine = engine
        super().__init__(
            # Sentence-level timed transcripts, as the StreamAdapter would give.
            capabilities=tts.TTSCapabilities(streaming=True, aligned_transcript=True),
            sample_rate=out_rate,
            num_channels=1,
        )

    @property
    def model(self) -> str:
        return "espeak-ng"

    @property
    def provider(self) -> str:
        return "espeak"

    @property
    def voice(self) -> str:
        return self._opts.voice

    def prewarm(self) -> None:
        # Loads the voice and its dictionary on the worker, without blocking the loop.
        opts, engine = self._opts, self._engine
        _worker().submit(engine.synthesize, "a", lambda _pcm: False, voice=opts.voice_id)

    def preload(self) -> None:
        """Blocking load at process start."""
        self._engine.synthesize("a", lambda _pcm: False, voice=self._opts.voice_id)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> EspeakChunkedStream:
        return EspeakChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> EspeakSynthesizeStream:
        return EspeakSynthesizeStream(tts=self, conn_options=conn_options)

    async def _speak(self, text: str, sink: Callable[[bytes], None]) -> float:
        """Synthesize on the worker thread, handing int16 PCM to ``sink`` on the event loop as
        espeak makes it. Returns the seconds of audio delivered. Cancelling stops espeak at
        its next chunk and waits for the worker, so the engine is free when this returns."""
        loop = asyncio.get_running_loop()
        opts, engine = self._opts, self._engine
        stop = threading.Event()
        samples = 0

        def deliver(data: bytes) -> None:
            nonlocal samples
            if not stop.is_set():  # nothing reaches the sink once cancelled
                samples += len(data) // 2
                sink(data)

        def post(data: bytes) -> bool:
            try:
                loop.call_soon_threadsafe(deliver, data)
            except RuntimeError:  # loop closed under us
                stop.set()
            return not stop.is_set()

        def work() -> None:
            if stop.is_set():
                return
            resampler = None
            if opts.sample_rate != engine.sample_rate:
                resampler = rtc.AudioResampler(engine.sample_rate, opts.sample_rate, num_channels=1)

            def on_chunk(pcm: np.ndarray) -> bool:
                if stop.is_set():
                    return False
                if resampler is None:
                    return post(pcm.tobytes())
                frame = rtc.AudioFrame(pcm.tobytes(), engine.sample_rate, 1, len(pcm))
                data = b"".join(f.data.tobytes() for f in resampler.push(frame))
                return post(data) if data else True

            engine.synthesize(
                text,
                on_chunk,
                voice=opts.voice_id,
                rate=opts.rate,
                pitch=opts.pitch,
                volume=opts.volume,
            )
            if resampler is not None and not stop.is_set():
                if data := b"".join(f.data.tobytes() for f in resampler.flush()):
                    post(data)

        fut = loop.run_in_executor(_worker(), work)
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            stop.set()
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieve it
            await asyncio.wait([fut], timeout=_ABORT_WAIT)
            raise
        except EspeakError as e:
            raise APIError(f"espeak: {e}", retryable=False) from e
        return samples / opts.sample_rate


def _initialize(output_emitter: tts.AudioEmitter, espeak: EspeakTTS, *, stream: bool) -> None:
    """Both streams emit espeak's raw mono PCM."""
    output_emitter.initialize(
        request_id=utils.shortuuid(),
        sample_rate=espeak.sample_rate,
        num_channels=1,
        mime_type="audio/pcm",
        stream=stream,
    )


class EspeakChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: EspeakTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._espeak = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        _initialize(output_emitter, self._espeak, stream=False)
        await self._espeak._speak(self._input_text, output_emitter.push)


# A clause or sentence ends at punctuation (plus closing quotes) followed by whitespace, so
# "3.5" or "1,000" never split. French puts a space before ?!:; which changes nothing here.
_CLAUSE_END = re.compile(r"[,;:.!?…]+[\"'”’»)\]]*\s+|\n+")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+|\n+")
_ABBREVIATION = re.compile(
    r"(?:^|[\s(])(?:mr|mrs|ms|dr|prof|st|sr|jr|vs|cf|mme|mlle|e\.g|i\.e|"
    r"[a-z])\.$",
    re.IGNORECASE,
)
_EAGER_BELOW = 0.5  # seconds of queued audio under which we speak at clause boundaries
_EAGER_MAX_CHARS = 80  # when eager and no punctuation comes, cut at a space after this many
_MAX_CHARS = 300  # bound the wait for a sentence end


class _Chunker:
    """Cuts streamed LLM text into pieces for espeak. Pieces are exact slices of the input,
    so their concatenation is the transcript. ``eager`` (nothing or little left to play)
    cuts at the last clause boundary; otherwise at the last sentence end, which gives
    espeak whole sentences and better intonation."""

    def __init__(self) -> None:
        self._buf = ""

    def push(self, text: str, *, eager: bool) -> str | None:
        self._buf += text
        cut = self._last_boundary(_CLAUSE_END if eager else _SENTENCE_END)
        limit = _EAGER_MAX_CHARS if eager else _MAX_CHARS
        if cut is None and len(self._buf) > limit:
            cut = self._last_boundary(_CLAUSE_END) or (self._buf.rfind(" ") + 1 or None)
        if not cut:
            return None
        piece, self._buf = self._buf[:cut], self._buf[cut:]
        return piece

    def flush(self) -> str | None:
        piece, self._buf = self._buf, ""
        return piece or None

    def _last_boundary(self, pattern: re.Pattern[str]) -> int | None:
        cut = None
        for m in pattern.finditer(self._buf):
            head = self._buf[: m.start() + 1]
            if head.endswith(".") and _ABBREVIATION.search(head):
                continue  # "Dr. Smith", "M. Dupont"
            cut = m.end()
        return cut


class EspeakSynthesizeStream(tts.SynthesizeStream):
    def __init__(self, *, tts: EspeakTTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._espeak = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        from livekit.agents.voice.io import TimedString

        _initialize(output_emitter, self._espeak, stream=True)
        output_emitter.start_segment(segment_id=utils.shortuuid())
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        playout_end = 0.0  # estimated monotonic time when the audio sent so far is played

        async def forward_input() -> None:
            chunker = _Chunker()
            async for data in self._input_ch:
                if isinstance(data, self._FlushSentinel):
                    piece = chunker.flush()
                else:
                    piece = chunker.push(data, eager=playout_end - time.monotonic() < _EAGER_BELOW)
                if piece:
                    pieces.put_nowait(piece)
            if piece := chunker.flush():
                pieces.put_nowait(piece)
            pieces.put_nowait(None)

        async def speak() -> None:
            nonlocal playout_end
            spoken = 0.0
            done = False
            while not done:
                batch = [await pieces.get()]
                while not pieces.empty():  # all that came meanwhile: one call, one intonation
                    batch.append(pieces.get_nowait())
                done = None in batch
                text = "".join(p for p in batch if p)
                if not text:
                    continue
                output_emitter.push_timed_transcript(TimedString(text=text, start_time=spoken))
                if not text.strip():
                    continue
                mark_tts_started(self)
                started = time.monotonic()
                duration = await self._espeak._speak(text, output_emitter.push)
                output_emitter.flush()
                spoken += duration
                playout_end = max(playout_end, started) + duration

        tasks = [asyncio.create_task(forward_input()), asyncio.create_task(speak())]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks)


class EspeakOptions(Options):
    """``tts.options`` (the voice is ``tts.voice``)."""

    rate: int = _DEFAULTS["rate"]
    pitch: int = _DEFAULTS["pitch"]
    volume: int = _DEFAULTS["volume"]
    sample_rate: int | None = None

    @field_validator("rate", "pitch", "volume", "sample_rate", mode="before")
    @classmethod
    def _in_range(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name == "sample_rate":
            return value
        return _int_in_range(str(info.field_name), value)


def _build(spec: ProviderSpec, ctx: BuildContext) -> EspeakTTS:
    opts: EspeakOptions = PROVIDER.parse_options(spec)
    return EspeakTTS(voice=spec.voice, language=ctx.language_for(spec), **given(opts))


PROVIDER = ProviderInfo(
    kind="tts",
    name="espeak",
    build=_build,
    description="eSpeak NG in-process (libespeak-ng): instant, robotic, 100+ languages",
    modules=("espeakng_loader",),
    offline=True,
    voices=("en-us", "en-gb", "fr-fr", "de", "es", "en-us+f3"),
    options=EspeakOptions,
)
