"""Streaming, offline speech-to-text on pocketsphinx 5 (CMU Sphinx, en-us model in the wheel).

How an utterance flows:

* livekit's ``RecognizeStream`` resamples to 16 kHz; we mix down to mono. Audio is decoded
  as it arrives, in a worker process per stream (:mod:`.pocketsphinx_pool`): the binding
  holds the GIL inside its C calls, so a decoder in this process, even on a thread, stalls
  the event loop that paces every conversation's audio. The stream sends the worker what
  has queued up (one request in flight at a time) and passes on the events it answers.
* pocketsphinx's ``Vad`` gates the decoder (:mod:`.pocketsphinx_worker`): nothing is
  decoded until speech starts (with 0.3 s of pre-roll), so a silent session costs little.
* INTERIM transcripts come from ``decoder.hyp()`` every ``interim_interval`` s of audio,
  from the utterance's first settle on (``defer_first_pass``: before it, only the front end
  runs; false: from its start).
* Each utterance is decoded under its own cepstral mean, as a whole-utterance decode would
  be (:mod:`.pocketsphinx_cmn`): settled after ``cmn_seed`` s of it, or at the flush of a
  shorter one, and again after each of ``cmn_reseed`` s of a longer one; a stream's first
  utterance, and one whose mean jumped, is decoded again (``defer_first_pass``, the default:
  only the front end runs before the first settle, so that audio is decoded once, under the
  settled mean). A shorter one is settled early,
  when its words pause, so that its re-decode is done before the flush. The later
  settles' re-decodes run on the worker's spare decoder while the live one goes on
  (``spare_decoder``, :mod:`.pocketsphinx_catchup`): a flush drops one that is far behind
  rather than wait.
* An app's words and phrases (``vocabulary``, :mod:`.vocabulary`) reach the decoder: new
  words get espeak-ng pronunciations, the phrases an app language model heard alongside the
  general one (:mod:`.vocabulary_decoder`).
* The utterance is finalized on ``flush()``. We declare ``manual_flush``, so the session
  flushes us, in audio order, when its VAD hears the end of speech (or its turn model
  decides). The decoder is up to date by then, so the FINAL costs only ``end_utt()``:
  5-60 ms. ``fwdflat`` is off by default: its second pass over the whole utterance
  costs 60-200 ms more at the flush and gained no accuracy on our tests.
* Every flush gets exactly one FINAL: the utterance's text, or an empty text when nothing
  was said. livekit's commit (on session close, or a manual commit) flushes and waits up to
  2 s for a FINAL, any FINAL; it ignores an empty one otherwise.
* For callers that never flush, ``endpoint_silence`` s of non-speech (by the gate) or
  ``_MAX_UTTERANCE_S`` of audio also finalize an utterance (no FINAL when nothing was
  recognised). Once a caller has flushed, its VAD owns the boundaries: the silence
  fallback is off and an over-long utterance is dropped.
* A worker that crashes mid-stream costs the utterance, not the session: the stream logs,
  ends the open utterance with no text, answers pending flushes with empty FINALs, and goes
  on with a fresh worker (after the caller's next flush, if the crash cut an utterance).

A worker process takes ~0.3 s to start and load, and ~100 MB; so warm workers live in a
process-wide :class:`DecoderPool` per configuration. A stream borrows one and gives it back
on close. ``preload()`` (blocking) starts one at process start; ``stt.pool.warm(n)`` keeps
``n`` ready, e.g. one per session slot. After an utterance of ``renew_worker_after`` s or
more, the stream ends its worker and takes a fresh one for the next: what a long decode
wrote stays the worker's own memory until it exits (~25 MB per decoder that ran).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectionError, stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from ...config.spec import ProviderSpec
from ...errors import ProviderError
from ..info import BuildContext, ProviderInfo
from .batch_stt import BatchSTT
from .pocketsphinx_options import PocketsphinxOptions, options_model
from .pocketsphinx_pool import DecoderLoadError, DecoderPool, Worker, WorkerDied, get_pool
from .pocketsphinx_worker import (
    CMN_RESEED_S,
    CMN_SEED_S,
    RENEW_AFTER_S,
    Event,
    RecognizerOptions,
    new_request_id,
)
from .vocabulary import (
    DEFAULT_WEIGHT,
    VocabularyError,
    compile_vocabulary,
    load_vocabulary,
    parse_vocabulary,
)

__all__ = ["PROVIDER", "DecoderLoadError", "DecoderPool", "PocketSphinxSTT", "get_pool"]

logger = logging.getLogger(__name__)

_MAX_UTTERANCE_S = 30.0  # the decoder's tables grow with the utterance; noise may hold the gate
_MAX_BATCH = 200  # queued frames sent to the worker in one request when it falls behind
_MAX_BATCH_BYTES = 64 * 1024  # 2 s at 16 kHz: a request always fits the pipe's buffer
_MAX_CRASHES = 3  # workers lost in a row, with no reply in between, before the stream fails
# Search limits: at most 4,000 HMMs and 20 words active per frame (pocketsphinx: 30,000 and
# no limit). About 40 % less decode CPU at the same WER (bench/stt_accuracy.py --search).
_DEFAULTS: dict[str, Any] = {"loglevel": "ERROR", "fwdflat": False, "maxhmmpf": 4000, "maxwpf": 20}


@dataclass(frozen=True)
class _StreamOptions:
    language: LanguageCode
    sample_rate: int
    interim_interval: float
    endpoint_silence: float | None
    vad_mode: int
    max_utterance_s: float
    cmn_seed_s: float | None = CMN_SEED_S
    cmn_reseed_s: float | tuple[float, ...] | None = CMN_RESEED_S
    defer_first_pass: bool = True
    renew_after_s: float | None = RENEW_AFTER_S


def _event(
    kind: stt.SpeechEventType, request_id: str, data: stt.SpeechData | None = None
) -> stt.SpeechEvent:
    return stt.SpeechEvent(
        type=kind, request_id=request_id, alternatives=[data] if data is not None else []
    )


def _speech_event(ev: Event, language: LanguageCode, offset: float) -> stt.SpeechEvent:
    """A worker's event tuple as a livekit event; ``offset``: the stream's start_time_offset."""
    kind, rid = ev[0], ev[1]
    if kind == "interim":
        data = stt.SpeechData(language=language, text=ev[2])
        return _event(stt.SpeechEventType.INTERIM_TRANSCRIPT, rid, data)
    if kind == "final":
        text, start, end, confidence = ev[2], ev[3], ev[4], ev[5]
        data = stt.SpeechData(
            language=language,
            text=text,
            start_time=offset + start if text else 0.0,
            end_time=offset + end if text else 0.0,
            confidence=confidence,
        )
        return _event(stt.SpeechEventType.FINAL_TRANSCRIPT, rid, data)
    if kind == "usage":
        return stt.SpeechEvent(
            type=stt.SpeechEventType.RECOGNITION_USAGE,
            request_id=rid,
            recognition_usage=stt.RecognitionUsage(audio_duration=ev[2]),
        )
    if kind == "start":
        return _event(stt.SpeechEventType.START_OF_SPEECH, rid)
    if kind == "end":
        return _event(stt.SpeechEventType.END_OF_SPEECH, rid)
    raise ValueError(f"unknown pocketsphinx event {kind!r}")


def _empty_final(request_id: str) -> Event:
    return ("final", request_id, "", 0.0, 0.0, 0.0)


class _Decoding:
    """A stream's side of its worker: requests, and recovery when the worker is lost."""

    def __init__(
        self,
        pool: DecoderPool,
        opts: _StreamOptions,
        on_lost: Callable[[Exception], None] | None = None,
    ) -> None:
        self._pool, self._opts = pool, opts
        self._on_lost = on_lost  # told of each worker lost mid-stream (counted as a fault)
        self._worker: Worker | None = None
        self._samples = 0  # sent so far: the stream clock for a replacement worker
        self._flushed = False  # the caller flushes: its VAD owns the boundaries
        self._open: str | None = None  # the utterance the worker has started, if any
        self._skip_to_flush = False  # a crash cut an utterance: drop its rest
        self._crashes = 0
        self._renew = False  # a long utterance ended: a fresh worker before the next one

    @property
    def worker(self) -> Worker | None:
        return self._worker

    async def process(self, items: list[bytes | None]) -> list[Event]:
        events: list[Event] = []
        if self._skip_to_flush:
            if None not in items:
                self._samples += sum(len(x) for x in items if x is not None) // 2
                return events
            cut = items.index(None)
            self._samples += sum(len(x) for x in items[:cut] if x is not None) // 2
            events.append(_empty_final(new_request_id()))  # the flush still gets its FINAL
            self._skip_to_flush = False
            items = items[cut + 1 :]
            if not items:
                return events
        worker = await self._ensure_worker()
        try:
            reply = await worker.request(("audio", items))
        except WorkerDied as e:
            return events + self._lost(items, e)
        self._crashes = 0
        self._samples += sum(len(x) for x in items if x is not None) // 2
        self._flushed = self._flushed or None in items
        # Only a forked worker is worth replacing: a spawned one loads a model of its own.
        renew_after = self._opts.renew_after_s if self._pool.forks else None
        for ev in reply[1]:
            if ev[0] == "start":
                self._open = ev[1]
            elif ev[0] == "end":
                self._open = None
            elif ev[0] == "usage" and renew_after is not None and ev[2] >= renew_after:
                self._renew = True
        if self._renew and self._open is None:
            # Between utterances: the next audio goes to a fresh worker, on our clock.
            self._renew, self._worker = False, None
            self._pool.retire(worker)
            self._pool.prewarm()  # its successor forked now, not when the next words come
        events.extend(reply[1])
        return events

    async def _ensure_worker(self) -> Worker:
        """The stream's worker, started on this stream (a new one after a crash: one that
        dies before it has any of our audio costs nothing but a retry)."""
        while self._worker is None:
            worker = await self._pool.acquire()
            o = self._opts
            options = RecognizerOptions(
                sample_rate=o.sample_rate,
                interim_interval=o.interim_interval,
                endpoint_silence=o.endpoint_silence,
                vad_mode=o.vad_mode,
                max_utterance_s=o.max_utterance_s,
                cmn_seed_s=o.cmn_seed_s,
                cmn_reseed_s=o.cmn_reseed_s,
                defer_first_pass=o.defer_first_pass,
                start_pos=self._samples,
                flushed=self._flushed,
            )
            try:
                await worker.request(("start", options))
            except WorkerDied as e:
                self._pool.discard(worker)
                self._crashes += 1
                if self._crashes > _MAX_CRASHES:
                    raise APIConnectionError(
                        f"pocketsphinx workers keep failing: {e}", retryable=False
                    ) from e
                logger.warning("pocketsphinx worker lost before use, replaced: %s", e)
                continue
            self._worker = worker
        return self._worker

    def _lost(self, items: list[bytes | None], error: WorkerDied) -> list[Event]:
        """The worker died with ``items``: end what it had started, answer the flushes."""
        self._crashes += 1
        self._renew = False  # its successor is fresh anyway
        worker, self._worker = self._worker, None
        if worker is not None:
            self._pool.discard(worker)
        if self._crashes > _MAX_CRASHES:
            raise APIConnectionError(
                f"pocketsphinx workers keep failing: {error}", retryable=False
            ) from error
        logger.warning("pocketsphinx worker lost mid-stream, utterance dropped: %s", error)
        if self._on_lost is not None:
            self._on_lost(error)
        self._samples += sum(len(x) for x in items if x is not None) // 2
        flushes = items.count(None)
        self._flushed = self._flushed or flushes > 0
        events: list[Event] = []
        if self._open is not None:
            if flushes:
                events.append(_empty_final(self._open))
                flushes -= 1
            events.append(("end", self._open))
            # The rest of the cut utterance would make a turn of its own: with a caller that
            # flushes, wait for its end; without one, a fresh worker's gate decides.
            self._skip_to_flush = self._flushed and bool(items) and items[-1] is not None
            self._open = None
        events.extend(_empty_final(new_request_id()) for _ in range(flushes))
        return events

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await self._pool.give_back(worker)


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
        self._decoding: _Decoding | None = None

    @property
    def worker_pid(self) -> int | None:
        """The process decoding this stream now, if any (for tests and diagnostics)."""
        worker = self._decoding.worker if self._decoding is not None else None
        return worker.pid if worker is not None else None

    async def __aenter__(self) -> PocketSphinxStream:
        return self

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        # livekit's resampler is mono: mix down first.
        super().push_frame(_mono(frame) if frame.num_channels > 1 else frame)

    def _report_lost(self, error: Exception) -> None:
        # livekit's recoverable-error event: the session's metrics count it (errors, with
        # component "stt") and the session goes on with a fresh worker.
        err = APIConnectionError(f"pocketsphinx worker lost mid-utterance: {error}")
        self._stt.emit(
            "error",
            stt.STTError(timestamp=time.time(), label=self._stt.label, error=err, recoverable=True),
        )

    async def _run(self) -> None:
        decoding = self._decoding = _Decoding(self._pool, self._opts, self._report_lost)
        try:
            async for first in self._input_ch:
                batch = [first]
                size = len(first.data) * 2 if isinstance(first, rtc.AudioFrame) else 0
                while (
                    len(batch) < _MAX_BATCH
                    and size < _MAX_BATCH_BYTES
                    and not self._input_ch.empty()
                ):
                    item = self._input_ch.recv_nowait()
                    batch.append(item)
                    size += len(item.data) * 2 if isinstance(item, rtc.AudioFrame) else 0
                items = [
                    None if isinstance(x, self._FlushSentinel) else x.data.tobytes() for x in batch
                ]
                events = await decoding.process(items)
                lang, offset = self._opts.language, self.start_time_offset
                for ev in events:
                    self._event_ch.send_nowait(_speech_event(ev, lang, offset))
        finally:
            # Ends the worker's stream and pools it; it finishes even if we are cancelled.
            await decoding.close()


class PocketSphinxSTT(BatchSTT):
    """Offline streaming STT. See the module docstring for how finals are triggered."""

    def __init__(
        self,
        *,
        decoder_config: Mapping[str, Any] | None = None,
        language: str = "en",
        interim_interval: float = 0.3,
        endpoint_silence: float | None = 1.5,
        vad_mode: int = 0,
        cmn_seed: float | None = CMN_SEED_S,
        cmn_reseed: float | tuple[float, ...] | None = CMN_RESEED_S,
        spare_decoder: bool = True,
        defer_first_pass: bool = True,
        renew_worker_after: float | None = RENEW_AFTER_S,
    ) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True, interim_results=True, manual_flush=True
            )
        )
        config = {**_DEFAULTS, **(decoder_config or {})}
        if not spare_decoder:  # the settles' re-decodes in line (see pocketsphinx_catchup)
            config["spare"] = False
        self._pool = get_pool(config)
        self._pool.attach()
        self._closed = False
        self._opts = _StreamOptions(
            language=LanguageCode(language),
            sample_rate=int(config.get("samprate", 16000)),
            interim_interval=interim_interval,
            endpoint_silence=endpoint_silence,
            vad_mode=vad_mode,
            max_utterance_s=_MAX_UTTERANCE_S,
            cmn_seed_s=cmn_seed,
            cmn_reseed_s=cmn_reseed,
            defer_first_pass=defer_first_pass,
            renew_after_s=renew_worker_after,
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
        # Called by the session on the event loop: must not block. Starting a process takes
        # ~1 ms; it loads its decoder on its own.
        self._pool.prewarm()

    def preload(self, workers: int = 1) -> None:
        """Blocking: start ``workers`` worker processes (in parallel) and wait until their
        decoders are loaded, at process start; the pool keeps that many warm."""
        self._pool.warm(workers, wait=True)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> PocketSphinxStream:
        # The limit is read here, not at import, so tests can shorten it.
        opts = replace(self._opts, max_utterance_s=_MAX_UTTERANCE_S)
        if utils.is_given(language):
            opts = replace(opts, language=LanguageCode(language))
        stream = PocketSphinxStream(
            stt_=self, pool=self._pool, opts=opts, conn_options=conn_options
        )
        self._streams.add(stream)
        return stream

    async def _recognize_frame(
        self, frame: rtc.AudioFrame, language: str | None
    ) -> stt.SpeechEvent:
        lang = LanguageCode(language) if language is not None else self._opts.language
        pcm = self._to_pcm(frame)
        worker = await self._pool.acquire()
        try:
            reply = await worker.request(("recognize", pcm))
        except WorkerDied as e:
            raise APIConnectionError(f"pocketsphinx: {e}") from e
        finally:
            await self._pool.give_back(worker)
        text, start, end, confidence = reply[1:5]
        data = stt.SpeechData(
            language=lang, text=text, start_time=start, end_time=end, confidence=confidence
        )
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

    async def aclose(self) -> None:
        """Close the streams, then (when no other STT uses the pool) end the idle workers and
        wait until every ended worker is reaped."""
        await asyncio.gather(*(s.aclose() for s in list(self._streams)))
        if not self._closed:
            self._closed = True
            await self._pool.detach()


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
    opts: PocketsphinxOptions = PROVIDER.parse_options(spec)  # ours and pocketsphinx's settings
    language = ctx.language_for(spec)
    if spec.model not in (None, "en-us"):
        raise ProviderError(
            f"stt.model {spec.model!r}: pocketsphinx has one built-in model, 'en-us'; "
            "give other models with stt.options.hmm/dict/lm"
        )
    given = opts.model_fields_set
    config: dict[str, Any] = {}
    for field, key in (("hmm", "hmm"), ("dict_", "dict"), ("lm", "lm")):
        if field in given:
            value = getattr(opts, field)
            # lm: null drops the language model, for a grammar (jsgf, kws...) instead.
            config[key] = None if key == "lm" and value is None else _path(value, key, ctx.base_dir)
    for key in sorted(given - set(PocketsphinxOptions.model_fields)):  # pocketsphinx's own
        if getattr(opts, key) is not None:
            config[key] = getattr(opts, key)
    _check_language(language, config)
    if opts.vocabulary is not None:
        weight = opts.vocabulary_weight
        weight = DEFAULT_WEIGHT if weight is None else _number(weight, "vocabulary_weight", 0, 1)
        config["vocabulary"] = _vocabulary(opts.vocabulary, weight, config, ctx.base_dir)
    return PocketSphinxSTT(
        decoder_config=config,
        language=language,
        interim_interval=opts.interim_interval,
        endpoint_silence=opts.endpoint_silence,
        vad_mode=opts.vad_mode,
        cmn_seed=opts.cmn_seed,
        cmn_reseed=opts.reseed_points,
        spare_decoder=opts.spare_decoder,
        defer_first_pass=opts.defer_first_pass,
        renew_worker_after=opts.renew_worker_after,
    )


def _vocabulary(
    value: Any, weight: float, config: Mapping[str, Any], base_dir: Path | None
) -> dict[str, Any]:
    """``stt.options.vocabulary`` (a file, or a list of phrases), compiled for the workers."""
    from pocketsphinx import Config

    if isinstance(value, list):
        load = lambda: parse_vocabulary(value, "stt.options.vocabulary")  # noqa: E731
    else:
        path = Path(_path(value, "vocabulary", base_dir))
        load = lambda: load_vocabulary(path)  # noqa: E731
    try:
        vocabulary = load()
    except VocabularyError as e:
        raise ProviderError(f"stt.options.vocabulary: {e}") from e
    dictionary = Path(str(config.get("dict") or Config()["dict"]))
    lm = Path(str(config["lm"])) if config.get("lm") else None
    if lm is None and "lm" in config:  # lm: null, a grammar instead: the words only
        weight = 0.0
    return compile_vocabulary(vocabulary, dictionary, lm, weight)


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


PROVIDER = ProviderInfo(
    kind="stt",
    name="pocketsphinx",
    build=_build,
    description="CMU PocketSphinx in-process: streaming, instant, modest accuracy (English)",
    modules=("pocketsphinx",),
    offline=True,
    models=("en-us",),
    languages=("en",),
    own_model_options=("hmm",),
    options=options_model,
)
