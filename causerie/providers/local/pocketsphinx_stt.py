"""Streaming, offline speech-to-text on pocketsphinx 5 (CMU Sphinx, en-us model in the wheel).

How an utterance flows:

* livekit's ``RecognizeStream`` resamples to 16 kHz; we mix down to mono. Audio is decoded
  as it arrives, on one worker thread per stream. The binding keeps the GIL inside its C
  calls, so each call gets at most 0.1 s of audio (~15 ms of CPU) and the loop runs between.
* pocketsphinx's ``Vad`` gates the decoder: nothing is decoded until speech starts (with
  0.3 s of pre-roll), so a silent session costs almost nothing.
* INTERIM transcripts come from ``decoder.hyp()`` every ``interim_interval`` s of audio.
* The utterance is finalized on ``flush()``. We declare ``manual_flush``, so the session
  flushes us, in audio order, when its VAD hears the end of speech (or its turn model
  decides). The decoder is up to date by then, so the FINAL costs only ``end_utt()``:
  5-60 ms. ``fwdflat`` is off by default: its second pass over the whole utterance
  costs 60-200 ms more at the flush and gained no accuracy on our tests.
* For callers that never flush, ``endpoint_silence`` s of non-speech (by the gate) or
  ``_MAX_UTTERANCE_S`` of audio also finalize an utterance. Once a caller has flushed, its
  VAD owns the boundaries: the silence fallback is off and an over-long utterance is dropped.

A decoder takes ~0.3 s to load, holding the GIL, and ~90 MB; so decoders live in a
process-wide :class:`DecoderPool` per configuration. A stream borrows one and gives it
back on close. Call ``stt.pool.prewarm(wait=True)`` in the worker's prewarm hook so no
session pays for the load.
"""
from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from ...config.spec import ProviderSpec
from ...errors import ProviderError
from ..registry import BuildContext, ProviderInfo

if TYPE_CHECKING:
    from pocketsphinx import Decoder

_MAX_UTTERANCE_S = 30.0  # the decoder's tables grow with the utterance; noise may hold the gate
_PREROLL_S = 0.3  # audio kept from before the gate opens, so the first phone is not cut
_START_WINDOW, _START_FRAMES = 5, 3  # open the gate on 3 speech frames out of 5 (30 ms each)
_MAX_BATCH = 200  # queued frames handed to the worker in one call when it falls behind
_DECODE_CHUNK_S = 0.1  # audio per process_raw call: ~15 ms of CPU
_POOL_MAX_IDLE = 2
_DEFAULTS: dict[str, Any] = {"loglevel": "ERROR", "fwdflat": False}

# Decoders load here: off the event loop, and a queued load that nobody waits for is cancelled.
_LOADER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pocketsphinx-load")


class DecoderPool:
    """Loaded decoders for one configuration. Thread-safe."""

    def __init__(self, config: Mapping[str, Any], max_idle: int = _POOL_MAX_IDLE) -> None:
        self.config = dict(config)
        self.max_idle = max_idle
        self.loads = 0  # decoders created, for tests and logs
        self._lock = threading.Lock()
        self._idle: list[Decoder] = []
        self._prewarming: Future[None] | None = None

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def _load(self) -> Decoder:
        from pocketsphinx import Decoder

        decoder = Decoder(**self.config)
        with self._lock:
            self.loads += 1
        return decoder

    def prewarm(self, wait: bool = False) -> None:
        """Load one decoder ahead in a background thread; ``wait`` blocks until it is ready."""
        with self._lock:
            if not self._idle and self._prewarming is None:
                self._prewarming = _LOADER.submit(self._prewarm_one)
            pending = self._prewarming
        if wait and pending is not None:
            pending.result()

    def _prewarm_one(self) -> None:
        try:
            self.release(self._load())
        finally:
            with self._lock:
                self._prewarming = None

    async def acquire(self) -> Decoder:
        while True:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
                pending = self._prewarming
            if pending is None:
                break
            # Shielded: cancelling us must not cancel a prewarm others may be waiting for.
            await asyncio.shield(asyncio.wrap_future(pending))
        load = _LOADER.submit(self._load)
        try:
            return await asyncio.wrap_future(load)
        except asyncio.CancelledError:
            # A load already running finishes anyway: keep its decoder for the next stream.
            load.add_done_callback(self._release_loaded)
            raise

    def _release_loaded(self, fut: Future[Decoder]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.release(fut.result())

    def release(self, decoder: Decoder) -> None:
        """Give back a decoder that is not inside an utterance."""
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(decoder)


_POOLS: dict[str, DecoderPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(config: Mapping[str, Any]) -> DecoderPool:
    """The process-wide pool for ``config``, so a new session reuses loaded decoders."""
    key = json.dumps(dict(config), sort_keys=True, default=str)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = DecoderPool(config)
        return pool


@dataclass(frozen=True)
class _StreamOptions:
    language: LanguageCode
    sample_rate: int
    interim_interval: float
    endpoint_silence: float | None
    vad_mode: int


@dataclass
class _Utterance:
    request_id: str
    start: int  # stream sample index of the first decoded sample
    samples: int = 0  # decoded so far
    silence: float = 0.0  # trailing non-speech, seconds
    since_interim: float = 0.0
    last_interim: str = ""


def _result(
    decoder: Decoder, language: LanguageCode, rate: int, start: int, offset: float
) -> stt.SpeechData | None:
    """The final hypothesis after ``end_utt()``, or None when nothing was said."""
    hyp = decoder.hyp()
    text = hyp.hypstr.strip() if hyp is not None else ""
    if not text:
        return None
    frate = int(decoder.config["frate"])
    words = [s for s in decoder.seg() if not _is_filler(s.word)]
    confidence = sum(s.prob for s in words) / len(words) if words else 0.0
    first = words[0].start_frame if words else 0
    last = words[-1].end_frame + 1 if words else 0
    return stt.SpeechData(
        language=language,
        text=text,
        start_time=offset + start / rate + first / frate,
        end_time=offset + start / rate + last / frate,
        confidence=float(min(max(confidence, 0.0), 1.0)),
    )


def _decode(decoder: Decoder, pcm: bytes, rate: int) -> None:
    # The binding holds the GIL inside process_raw: short calls let the event loop run between.
    step = int(_DECODE_CHUNK_S * rate) * 2
    for i in range(0, len(pcm), step):
        decoder.process_raw(pcm[i : i + step], False, False)


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+"))


def _event(
    kind: stt.SpeechEventType, request_id: str, data: stt.SpeechData | None = None
) -> stt.SpeechEvent:
    return stt.SpeechEvent(
        type=kind, request_id=request_id, alternatives=[data] if data is not None else []
    )


class _Recognizer:
    """One decoder and its gate. Used by one worker thread only; returns SpeechEvents."""

    def __init__(self, decoder: Decoder, pool: DecoderPool, opts: _StreamOptions) -> None:
        from pocketsphinx import Vad

        self._decoder, self._pool, self._opts = decoder, pool, opts
        self._vad = Vad(opts.vad_mode, opts.sample_rate, 0.03)
        self._frame_bytes: int = self._vad.frame_bytes
        self._frame_s: float = self._vad.frame_length
        self._buf = bytearray()  # audio short of a whole VAD frame
        self._preroll: deque[bytes] = deque(maxlen=max(1, round(_PREROLL_S / self._frame_s)))
        self._recent: deque[bool] = deque(maxlen=_START_WINDOW)
        self._pos = 0  # samples gated so far: the stream clock
        self._pending: list[bytes] = []  # frames for the next process_raw call
        self._utt: _Utterance | None = None
        self._failed = False
        self._flushed = False  # a caller that flushes (the session) owns the boundaries

    def process(self, items: list[bytes | None], offset: float) -> list[stt.SpeechEvent]:
        """Feed PCM chunks; None marks a flush. ``offset`` is the stream's start_time_offset."""
        try:
            events: list[stt.SpeechEvent] = []
            for item in items:
                if item is None:
                    self._flushed = True
                    self._finalize(offset, events, flush=True)
                    continue
                self._buf += item
                while len(self._buf) >= self._frame_bytes:
                    frame = bytes(self._buf[: self._frame_bytes])
                    del self._buf[: self._frame_bytes]
                    self._frame(frame, offset, events)
            self._decode_pending()  # keep the decoder current so a flush finalizes at once
            return events
        except BaseException:
            self._failed = True  # a decoder in an unknown state never goes back to the pool
            raise

    def _frame(self, frame: bytes, offset: float, events: list[stt.SpeechEvent]) -> None:
        speech = self._vad.is_speech(frame)
        self._pos += len(frame) // 2
        utt = self._utt
        if utt is None:
            self._preroll.append(frame)
            self._recent.append(speech)
            if sum(self._recent) >= _START_FRAMES:
                self._open(events)
            return
        self._pending.append(frame)
        utt.samples += len(frame) // 2
        utt.silence = 0.0 if speech else utt.silence + self._frame_s
        utt.since_interim += self._frame_s
        if utt.since_interim >= self._opts.interim_interval:
            utt.since_interim = 0.0
            self._interim(utt, events)
        limit = None if self._flushed else self._opts.endpoint_silence
        if limit is not None and utt.silence >= limit:
            self._finalize(offset, events, flush=False)
        elif utt.samples >= _MAX_UTTERANCE_S * self._opts.sample_rate:
            # With a flushing caller, this long without its VAD hearing an end is noise or
            # a TV, not a user: drop it rather than start a turn with it.
            self._finalize(offset, events, flush=False, drop=self._flushed)

    def _open(self, events: list[stt.SpeechEvent]) -> None:
        self._decoder.start_utt()
        samples = sum(len(f) for f in self._preroll) // 2
        self._utt = _Utterance(request_id=utils.shortuuid(), start=self._pos - samples)
        self._utt.samples = samples
        self._pending.extend(self._preroll)
        self._preroll.clear()
        self._recent.clear()
        events.append(_event(stt.SpeechEventType.START_OF_SPEECH, self._utt.request_id))

    def _decode_pending(self) -> None:
        if self._pending:
            _decode(self._decoder, b"".join(self._pending), self._opts.sample_rate)
            self._pending.clear()

    def _interim(self, utt: _Utterance, events: list[stt.SpeechEvent]) -> None:
        self._decode_pending()
        hyp = self._decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if text and text != utt.last_interim:
            utt.last_interim = text
            data = stt.SpeechData(language=self._opts.language, text=text)
            events.append(_event(stt.SpeechEventType.INTERIM_TRANSCRIPT, utt.request_id, data))

    def _finalize(
        self, offset: float, events: list[stt.SpeechEvent], *, flush: bool, drop: bool = False
    ) -> None:
        utt = self._utt
        if utt is None:
            return
        if flush and self._buf:  # the tail short of a VAD frame belongs to this utterance
            self._pending.append(bytes(self._buf))
            utt.samples += len(self._buf) // 2
            self._pos += len(self._buf) // 2
            self._buf.clear()
        self._decode_pending()
        self._utt = None
        self._decoder.end_utt()
        lang, rate = self._opts.language, self._opts.sample_rate
        data = None if drop else _result(self._decoder, lang, rate, utt.start, offset)
        if data is not None:  # an empty hypothesis makes no FINAL: nothing was said
            events.append(_event(stt.SpeechEventType.FINAL_TRANSCRIPT, utt.request_id, data))
        events.append(
            stt.SpeechEvent(
                type=stt.SpeechEventType.RECOGNITION_USAGE,
                request_id=utt.request_id,
                recognition_usage=stt.RecognitionUsage(audio_duration=utt.samples / rate),
            )
        )
        events.append(_event(stt.SpeechEventType.END_OF_SPEECH, utt.request_id))

    def close(self) -> None:
        """End any open utterance, unheard, and give the decoder back."""
        if self._failed:
            return
        try:
            if self._utt is not None:
                self._utt = None
                self._decoder.end_utt()
        except RuntimeError:
            return
        self._pool.release(self._decoder)


def _mono(frame: rtc.AudioFrame) -> rtc.AudioFrame:
    pcm = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
    mono = pcm.mean(axis=1).astype(np.int16)
    return rtc.AudioFrame(mono.tobytes(), frame.sample_rate, 1, len(mono))


class PocketSphinxStream(stt.RecognizeStream):
    def __init__(
        self,
        *,
        stt_: PocketSphinxSTT,
        pool: DecoderPool,
        opts: _StreamOptions,
        conn_options: APIConnectOptions,
    ) -> None:
        # livekit resamples to our rate, and flushes its resampler on flush().
        super().__init__(stt=stt_, conn_options=conn_options, sample_rate=opts.sample_rate)
        self._pool, self._opts = pool, opts

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        # livekit's resampler is mono: mix down first.
        super().push_frame(_mono(frame) if frame.num_channels > 1 else frame)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        recognizer = _Recognizer(await self._pool.acquire(), self._pool, self._opts)
        # One thread per stream keeps decoder calls in audio order without locks.
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketsphinx")
        try:
            async for first in self._input_ch:
                batch = [first]
                while len(batch) < _MAX_BATCH and not self._input_ch.empty():
                    batch.append(self._input_ch.recv_nowait())
                items = [
                    None if isinstance(x, self._FlushSentinel) else x.data.tobytes() for x in batch
                ]
                events = await loop.run_in_executor(
                    worker, recognizer.process, items, self.start_time_offset
                )
                for ev in events:
                    self._event_ch.send_nowait(ev)
        finally:
            # Queued behind any decode still running, so the decoder is idle when pooled.
            closed = loop.run_in_executor(worker, recognizer.close)
            worker.shutdown(wait=False)
            await asyncio.shield(closed)


class PocketSphinxSTT(stt.STT):
    """Offline streaming STT. See the module docstring for how finals are triggered."""

    def __init__(
        self,
        *,
        decoder_config: Mapping[str, Any] | None = None,
        language: str = "en",
        interim_interval: float = 0.3,
        endpoint_silence: float | None = 1.5,
        vad_mode: int = 0,
    ) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True, interim_results=True, manual_flush=True
            )
        )
        config = {**_DEFAULTS, **(decoder_config or {})}
        self._pool = get_pool(config)
        self._opts = _StreamOptions(
            language=LanguageCode(language),
            sample_rate=int(config.get("samprate", 16000)),
            interim_interval=interim_interval,
            endpoint_silence=endpoint_silence,
            vad_mode=vad_mode,
        )
        self._streams: weakref.WeakSet[PocketSphinxStream] = weakref.WeakSet()

    @property
    def pool(self) -> DecoderPool:
        return self._pool

    @property
    def model(self) -> str:
        hmm = self._pool.config.get("hmm")
        return Path(str(hmm)).name if hmm else "en-us"

    @property
    def provider(self) -> str:
        return "pocketsphinx"

    def prewarm(self) -> None:
        # Called by the session on the event loop: must not block, so the load runs in a thread.
        self._pool.prewarm()

    def preload(self) -> None:
        """Blocking load at process start (a decoder load holds the GIL ~0.3 s)."""
        self._pool.prewarm(wait=True)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> PocketSphinxStream:
        opts = self._opts
        if utils.is_given(language):
            opts = replace(opts, language=LanguageCode(language))
        stream = PocketSphinxStream(
            stt_=self, pool=self._pool, opts=opts, conn_options=conn_options
        )
        self._streams.add(stream)
        return stream

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = LanguageCode(language) if utils.is_given(language) else self._opts.language
        pcm = self._to_pcm(rtc.combine_audio_frames(buffer))
        decoder = await self._pool.acquire()
        # Shielded, and the thread pools the decoder itself: a cancelled caller
        # must not hand back a decoder that is still decoding.
        data = await asyncio.shield(asyncio.to_thread(self._decode_all, decoder, pcm, lang))
        if data is None:
            data = stt.SpeechData(language=lang, text="")
        return _event(stt.SpeechEventType.FINAL_TRANSCRIPT, utils.shortuuid(), data)

    def _to_pcm(self, frame: rtc.AudioFrame) -> bytes:
        if frame.num_channels > 1:
            frame = _mono(frame)
        rate = self._opts.sample_rate
        if frame.sample_rate != rate:
            resampler = rtc.AudioResampler(
                frame.sample_rate, rate, quality=rtc.AudioResamplerQuality.HIGH
            )
            frames = [*resampler.push(frame), *resampler.flush()]
            return b"".join(f.data.tobytes() for f in frames)
        return frame.data.tobytes()

    def _decode_all(
        self, decoder: Decoder, pcm: bytes, language: LanguageCode
    ) -> stt.SpeechData | None:
        ok = False
        try:
            decoder.start_utt()
            _decode(decoder, pcm, self._opts.sample_rate)
            decoder.end_utt()
            data = _result(decoder, language, self._opts.sample_rate, 0, 0.0)
            ok = True
            return data
        finally:
            if ok:  # a decoder that failed is in an unknown state: drop it
                self._pool.release(decoder)

    async def aclose(self) -> None:
        await asyncio.gather(*(s.aclose() for s in list(self._streams)))


_GRAMMARS = ("jsgf", "fsg", "kws", "keyphrase", "allphone", "lmctl")


def _path(value: Any, key: str, base_dir: Path | None) -> str:
    if not isinstance(value, str | Path) or not str(value):
        raise ProviderError(f"stt.options.{key} must be a path, got {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.exists():
        raise ProviderError(f"stt.options.{key}: {path} does not exist")
    return str(path)


def _number(value: Any, key: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ProviderError(f"stt.options.{key} must be a number from {lo} to {hi}, got {value!r}")
    return float(value)


def _build(spec: ProviderSpec, ctx: BuildContext) -> PocketSphinxSTT:
    options = dict(spec.options)
    language = ctx.language_for(spec)
    if spec.model not in (None, "en-us"):
        raise ProviderError(
            f"stt.model {spec.model!r}: pocketsphinx has one built-in model, 'en-us'; "
            "give other models with stt.options.hmm/dict/lm"
        )
    config: dict[str, Any] = {}
    for key in ("hmm", "dict", "lm"):
        if key in options:
            value = options.pop(key)
            # lm: null drops the language model, for a grammar (jsgf, kws...) instead.
            config[key] = None if key == "lm" and value is None else _path(value, key, ctx.base_dir)
    interim = _number(options.pop("interim_interval", 0.3), "interim_interval", 0.05, 5.0)
    endpoint = options.pop("endpoint_silence", 1.5)
    if endpoint in (None, 0, False):
        endpoint = None
    else:
        endpoint = _number(endpoint, "endpoint_silence", 0.2, 30.0)
    vad_mode = options.pop("vad_mode", 0)
    if vad_mode not in (0, 1, 2, 3) or isinstance(vad_mode, bool):
        raise ProviderError(
            f"stt.options.vad_mode must be 0 (loose) to 3 (strict), got {vad_mode!r}"
        )
    for key, value in options.items():
        if not isinstance(value, str | int | float | bool):
            raise ProviderError(
                f"stt.options.{key} must be a string, number or boolean "
                f"(a pocketsphinx setting), got {value!r}"
            )
        config[key] = value

    _check_language(language, config)
    _check_config(config)
    return PocketSphinxSTT(
        decoder_config=config,
        language=language,
        interim_interval=interim,
        endpoint_silence=endpoint,
        vad_mode=int(vad_mode),
    )


def _check_language(language: str, config: Mapping[str, Any]) -> None:
    if language.split("-")[0].lower() == "en":
        return
    if "hmm" not in config:
        raise ProviderError(
            f"pocketsphinx ships only an English (en-us) model; for {language!r} give "
            "stt.options.hmm/dict/lm or use another STT provider"
        )
    if "dict" not in config or ("lm" not in config and not set(_GRAMMARS) & set(config)):
        raise ProviderError(
            f"stt.options.hmm for {language!r} needs its own stt.options.dict and "
            f"stt.options.lm (or a grammar: {', '.join(_GRAMMARS)}); "
            "the bundled ones are English"
        )


def _check_config(config: Mapping[str, Any]) -> None:
    """Unknown keys and bad values fail when the agent is built, not in a session."""
    from pocketsphinx import Config

    unknown = sorted(set(config) - {key for key, _ in Config().items()})
    if unknown:
        raise ProviderError(
            f"stt.options: unknown option(s) {unknown} for pocketsphinx; allowed: "
            "interim_interval, endpoint_silence, vad_mode, and pocketsphinx settings "
            "(any pocketsphinx.Config key: beam, maxhmmpf, fwdflat, ...)"
        )
    for key, value in config.items():
        try:
            Config(**{key: value})
        except ValueError as e:
            raise ProviderError(f"stt.options.{key}: invalid value {value!r} ({e})") from e


PROVIDER = ProviderInfo(
    kind="stt",
    name="pocketsphinx",
    build=_build,
    description="CMU PocketSphinx in-process: streaming, instant, modest accuracy (English)",
    modules=("pocketsphinx",),
    offline=True,
    models=("en-us",),
)
