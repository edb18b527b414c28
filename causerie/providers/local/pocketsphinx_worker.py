"""The pocketsphinx worker process: one loaded decoder, driven over a ``multiprocessing`` pipe.

The binding holds the GIL inside every C call (``process_raw``, ``end_utt``, loading), so a
decoder in the server process stalls the event loop that paces every conversation's audio.
Here each decoder lives in a process of its own, started with the ``spawn`` method by
:mod:`.pocketsphinx_pool`. This module is what that process imports: the standard library
and pocketsphinx only (no livekit, no numpy), so a worker starts in ~0.1 s plus the load.

Protocol: strict request/reply. After loading, the worker sends ``("ready", pid)`` (or
``("error", message)`` and exits). Then, for every request, exactly one reply:

* ``("start", RecognizerOptions)`` -> ``("ok",)``: a new stream; any previous one is dropped.
* ``("audio", [bytes | None, ...])`` -> ``("events", [event, ...])``: int16 mono PCM at the
  stream's rate; ``None`` marks a flush. Events are plain tuples (see :func:`_final`...).
* ``("reset",)`` -> ``("ok",)``: end the stream, unheard; the decoder is idle again.
* ``("recognize", bytes)`` -> ``("result", text, start, end, confidence)``: a whole buffer,
  ungated (``STT.recognize``).
* ``("crash",)``: exits at once without replying (tests).

A request that raises gets ``("error", message)``; the parent then discards this worker.
The worker exits when the parent's end of the pipe closes (EOF): when the parent closes it,
or dies. It blocks in ``recv()`` meanwhile, so an idle worker costs no CPU. It runs under
SCHED_BATCH (see :func:`batch_priority`) and ignores SIGINT (the parent decides). With an
app vocabulary's decoder pair it forks once more, before ``ready``: the app decoders run in
that child, on another core (:mod:`.vocabulary_process`), which ends when the worker does.
"""

from __future__ import annotations

import os
import random
import signal
import uuid
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import cycle
from multiprocessing.connection import Connection
from operator import add
from typing import TYPE_CHECKING, Any, TypeAlias

from . import vocabulary_process
from .pocketsphinx_catchup import CatchUp
from .pocketsphinx_cmn import CmnSeed, add_front_end

if TYPE_CHECKING:
    from pocketsphinx import Decoder as _Decoder

    from .vocabulary_decoder import DecoderPair

    Decoder: TypeAlias = _Decoder | DecoderPair  # an app language model: two decoders as one

PREROLL_S = 0.3  # audio kept from before the gate opens, so the first phone is not cut
START_WINDOW, START_FRAMES = 5, 3  # open the gate on 3 speech frames out of 5 (30 ms each)
DECODE_CHUNK_S = 0.1  # audio per process_raw call (no GIL to share here; keeps calls short)
HOLD_AFTER_S = 0.3  # an utterance's non-speech past this is held, not decoded (see _frame)
# A short utterance's first settle would fall at the flush, where its re-decode (~0.1-0.2 s)
# delays the reply. It is begun once the words pause: each 30 ms frame this far under the
# loudest so far, for this long (chosen on the bench's short utterances).
EARLY_PAUSE_S, EARLY_PAUSE_DB = 0.09, 30.0
CMN_SEED_S = 1.2  # see pocketsphinx_cmn; chosen on held-in human speech (not the bench's)
CMN_REDECODE: float | None = 15.0  # later utterances: when the mean jumped (a new voice, level)
# A longer utterance's mean, again at each of these (see pocketsphinx_cmn and _catchup).
CMN_RESEED_S: tuple[float, ...] | None = (2.8, 4.5)
CMN_RESEED_REDECODE: float | None = 4.0  # ...and its audio re-decoded when the mean moved
# After an utterance this long the stream replaces its worker (the first settle that can
# wake the spare): a long decode's written pages are the worker's own until it exits.
RENEW_AFTER_S: float | None = 2.8
RECOGNIZE_SEED_S = 2.5  # a whole buffer: its mean over up to this much (see pocketsphinx_cmn)

# Events, as sent to the parent. ``rid`` is the utterance's request id; times are seconds on
# the stream's clock (samples received since the stream started).
#   ("start", rid) | ("interim", rid, text) | ("final", rid, text, start, end, confidence)
#   | ("usage", rid, audio_seconds) | ("end", rid)
# A flush always gets one "final": empty text when nothing (or nothing recognisable) was said.
Event = tuple[Any, ...]


@dataclass(frozen=True)
class RecognizerOptions:
    sample_rate: int
    interim_interval: float
    endpoint_silence: float | None
    vad_mode: int
    max_utterance_s: float
    start_pos: int = 0
    """Samples of the stream before this worker took over (after a worker crash)."""
    flushed: bool = False
    """The caller has flushed before: its VAD owns the boundaries."""
    cmn_seed_s: float | None = CMN_SEED_S
    """Audio (pre-roll included) after which the utterance's own cepstral mean is used."""
    cmn_redecode: float | None = CMN_REDECODE
    """How far that mean must move from the prior for the audio so far to be re-decoded."""
    cmn_reseed_s: float | tuple[float, ...] | None = CMN_RESEED_S
    """Later settles, over this much of a longer utterance (None: none)."""
    cmn_reseed_redecode: float | None = CMN_RESEED_REDECODE
    defer_first_pass: bool = True
    """Run the front end only until the first settle, then decode once (see pocketsphinx_cmn)."""


@dataclass
class _Utterance:
    request_id: str
    start: int  # stream sample index of the first decoded sample
    samples: int = 0  # decoded so far
    silence: float = 0.0  # trailing non-speech, seconds
    peak: int = 0  # the loudest frame's energy (sum of squares)
    quiet: float = 0.0  # trailing frames far under it, seconds
    since_interim: float = 0.0
    last_interim: str = ""


def new_request_id() -> str:
    return "PS_" + uuid.uuid4().hex[:12]


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+"))


# A noise floor at about -80 dBFS, under any real microphone's. Digital silence (a muted
# track, synthetic speech, padding) otherwise gives near-zero-energy frames whose cepstra
# drag the cepstral mean far off (see pocketsphinx_cmn); pocketsphinx's own ``dither``
# (half a bit) is too small to prevent it. A fixed table: decoding stays deterministic.
_RNG = random.Random(11)
_FLOOR = array("h", (round(_RNG.gauss(0.0, 3.0)) for _ in range(4001)))
del _RNG


def with_floor(pcm: bytes) -> bytes:
    samples = array("h")
    samples.frombytes(pcm)
    try:
        return array("h", map(add, samples, cycle(_FLOOR))).tobytes()
    except OverflowError:  # a sample at full scale: clip
        return array(
            "h", (max(-32768, min(32767, a + b)) for a, b in zip(samples, cycle(_FLOOR)))
        ).tobytes()


def decode(decoder: Decoder, pcm: bytes, rate: int) -> None:
    pcm = with_floor(pcm)
    step = int(DECODE_CHUNK_S * rate) * 2
    for i in range(0, len(pcm), step):
        decoder.process_raw(pcm[i : i + step], False, False)


def result(decoder: Decoder, rate: int, start: int) -> tuple[str, float, float, float]:
    """(text, start, end, confidence) after ``end_utt()``; text "" when nothing was said."""
    hyp = decoder.hyp()
    text = hyp.hypstr.strip() if hyp is not None else ""
    if not text:
        return "", 0.0, 0.0, 0.0
    frate = int(decoder.config["frate"])
    words = [s for s in decoder.seg() if not _is_filler(s.word)]
    confidence = sum(s.prob for s in words) / len(words) if words else 0.0
    first = words[0].start_frame if words else 0
    last = words[-1].end_frame + 1 if words else 0
    return (
        text,
        start / rate + first / frate,
        start / rate + last / frate,
        float(min(max(confidence, 0.0), 1.0)),
    )


class Recognizer:
    """One stream on one decoder: the gate, interims, and the finalization rules."""

    def __init__(
        self, decoder: Decoder, opts: RecognizerOptions, spare: Decoder | None = None
    ) -> None:
        from pocketsphinx import Vad

        self._decoder, self._opts = decoder, opts
        rate = opts.sample_rate
        # A later settle's re-decode runs on the spare, in the background (see catchup).
        self._catchup = (
            None if spare is None else CatchUp(spare, lambda d, pcm: decode(d, pcm, rate), rate)
        )
        self._vad = Vad(opts.vad_mode, opts.sample_rate, 0.03)
        self._frame_bytes: int = self._vad.frame_bytes
        self._frame_s: float = self._vad.frame_length
        self._buf = bytearray()  # audio short of a whole VAD frame
        self._preroll: deque[bytes] = deque(maxlen=max(1, round(PREROLL_S / self._frame_s)))
        self._recent: deque[bool] = deque(maxlen=START_WINDOW)
        self._pos = opts.start_pos  # samples gated so far: the stream clock
        self._pending: list[bytes] = []  # frames for the next process_raw call
        self._held: list[bytes] = []  # an open utterance's trailing non-speech, undecoded
        self._utt: _Utterance | None = None
        self._flushed = opts.flushed  # a caller that flushes (the session) owns the boundaries
        self._cmn = CmnSeed(
            decoder,
            opts.sample_rate,
            opts.cmn_seed_s,
            opts.cmn_redecode,
            opts.cmn_reseed_s,
            opts.cmn_reseed_redecode,
            self._catchup,
            defer=opts.defer_first_pass,
        )

    def process(self, items: list[bytes | None]) -> list[Event]:
        events: list[Event] = []
        arrived = 0
        for item in items:
            if item is None:
                self._flushed = True
                self._finalize(events, flush=True)
                continue
            self._buf += item
            arrived += len(item) // 2
            while len(self._buf) >= self._frame_bytes:
                frame = bytes(self._buf[: self._frame_bytes])
                del self._buf[: self._frame_bytes]
                self._frame(frame, events)
        self._decode_pending()  # keep the decoder current so a flush finalizes at once
        catchup = self._catchup
        if catchup is not None and self._utt is not None and catchup.step(arrived):
            self._swap()
        return events

    def _swap(self) -> None:
        """The spare's pass has caught up: it is the live decoder now."""
        assert self._catchup is not None
        self._cmn.adopt(self._catchup.spare)
        self._decoder = self._catchup.swapped(self._decoder)

    def _frame(self, frame: bytes, events: list[Event]) -> None:
        speech = self._vad.is_speech(frame)
        self._pos += len(frame) // 2
        utt = self._utt
        if utt is None:
            self._preroll.append(frame)
            self._recent.append(speech)
            if sum(self._recent) >= START_FRAMES:
                self._open(events)
            return
        utt.samples += len(frame) // 2
        utt.silence = 0.0 if speech else utt.silence + self._frame_s
        self._pause(utt, frame)
        if utt.silence > HOLD_AFTER_S:
            # The words have ended: more silence adds nothing to them, yet costs a full
            # decode, and a late flush (a busy server) would make every utterance dearer.
            # Held, it is decoded only if speech resumes within the utterance.
            self._held.append(frame)
        else:
            self._pending.extend(self._held)
            self._held.clear()
            self._pending.append(frame)
        utt.since_interim += self._frame_s
        if self._cmn.waiting(utt.samples):  # the utterance's own mean: settle it now
            self._decode_pending()
        if utt.since_interim >= self._opts.interim_interval:
            utt.since_interim = 0.0
            self._interim(utt, events)
        limit = None if self._flushed else self._opts.endpoint_silence
        if limit is not None and utt.silence >= limit:
            self._finalize(events, flush=False)
        elif utt.samples >= self._opts.max_utterance_s * self._opts.sample_rate:
            # With a flushing caller, this long without its VAD hearing an end is noise or
            # a TV, not a user: drop it rather than start a turn with it.
            self._finalize(events, flush=False, drop=self._flushed)

    def _open(self, events: list[Event]) -> None:
        self._cmn.start()
        self._decoder.start_utt()
        samples = sum(len(f) for f in self._preroll) // 2
        self._utt = _Utterance(request_id=new_request_id(), start=self._pos - samples)
        self._utt.samples = samples
        self._pending.extend(self._preroll)
        self._preroll.clear()
        self._recent.clear()
        events.append(("start", self._utt.request_id))

    def _pause(self, utt: _Utterance, frame: bytes) -> None:
        """Settle a short utterance's mean early (see EARLY_PAUSE_S) when its words pause."""
        if not self._cmn.unsettled:
            return  # settled already (or no seed): nothing to watch for
        samples = array("h")
        samples.frombytes(frame)
        energy = sum(x * x for x in samples)
        if energy * 10 ** (EARLY_PAUSE_DB / 10) >= utt.peak:
            utt.peak, utt.quiet = max(utt.peak, energy), 0.0
            return
        utt.quiet += self._frame_s
        crossed = utt.quiet - self._frame_s < EARLY_PAUSE_S - 1e-9 <= utt.quiet  # once a pause
        if not crossed:
            return
        self._decode_pending()  # the audio so far, in the mean's sums (may settle it)
        if self._cmn.early:
            self._cmn.settle(
                lambda pcm: decode(self._decoder, pcm, self._opts.sample_rate), early=True
            )

    def _decode_pending(self, final: bool = False) -> None:
        if self._pending:
            decode(self._decoder, b"".join(self._pending), self._opts.sample_rate)
            self._cmn.fed(self._pending)
            if self._catchup is not None:
                self._catchup.feed(self._pending)
            self._pending.clear()
        if self._utt is not None and (final or self._cmn.due):
            self._cmn.settle(
                lambda pcm: decode(self._decoder, pcm, self._opts.sample_rate), final=final
            )

    def _interim(self, utt: _Utterance, events: list[Event]) -> None:
        self._decode_pending()
        if self._cmn.deferred:
            return  # no words decoded yet
        hyp = self._decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if text and text != utt.last_interim:
            utt.last_interim = text
            events.append(("interim", utt.request_id, text))

    def _finalize(self, events: list[Event], *, flush: bool, drop: bool = False) -> None:
        utt = self._utt
        if utt is None:
            if flush:  # the caller waits for a FINAL after its flush (livekit's commit does)
                events.append(("final", new_request_id(), "", 0.0, 0.0, 0.0))
            return
        if flush and self._buf:  # the tail short of a VAD frame belongs to this utterance
            if not self._held:  # after held silence it is silence too: dropped with it
                self._pending.append(bytes(self._buf))
            utt.samples += len(self._buf) // 2
            self._pos += len(self._buf) // 2
            self._buf.clear()
        self._held.clear()  # silence after the words: never decoded
        if drop:
            self._pending.clear()
        else:
            self._decode_pending(final=True)
        if self._catchup is not None and self._catchup.active:
            if not drop and self._catchup.finish():
                self._swap()  # the re-decoded pass answers
            else:
                self._catchup.cancel()  # too far behind: the live pass answers
        self._utt = None
        self._decoder.end_utt()
        self._cmn.stop()  # dropped while deferred: the words' search for the next one
        rate = self._opts.sample_rate
        text, start, end, confidence = (
            ("", 0.0, 0.0, 0.0) if drop else result(self._decoder, rate, utt.start)
        )
        # An empty hypothesis makes a FINAL only to answer a flush: nothing was said.
        if text or flush:
            events.append(("final", utt.request_id, text, start, end, confidence))
        events.append(("usage", utt.request_id, utt.samples / rate))
        events.append(("end", utt.request_id))

    @property
    def decoders(self) -> tuple[Decoder, Decoder | None]:
        """The live decoder and the spare, which swap when a background re-decode wins."""
        return self._decoder, None if self._catchup is None else self._catchup.spare

    def close(self) -> None:
        """End any open utterance, unheard: the decoder is ready for another stream."""
        self._held.clear()
        if self._catchup is not None:
            self._catchup.cancel()
        if self._utt is not None:
            self._utt = None
            self._decoder.end_utt()
            self._cmn.stop()


def _recognize(decoder: Decoder, pcm: bytes, rate: int) -> tuple[str, float, float, float]:
    """A whole buffer, under its own cepstral mean (as ``full_utt=True`` would)."""
    cmn = CmnSeed(decoder, rate, seed_s=RECOGNIZE_SEED_S, redecode=0.0)
    cmn.start()
    decoder.start_utt()
    step = int(DECODE_CHUNK_S * rate) * 2
    for i in range(0, len(pcm), step):
        chunk = pcm[i : i + step]
        decode(decoder, chunk, rate)
        cmn.fed([chunk])
        if cmn.due:
            cmn.settle(lambda audio: decode(decoder, audio, rate))
    cmn.settle(lambda audio: decode(decoder, audio, rate))
    decoder.end_utt()
    return result(decoder, rate, 0)


def load_decoders(config: Mapping[str, Any]) -> tuple[Decoder, Decoder | None]:
    """The worker's decoder, and its spare (for the settles' re-decodes, see catchup) unless
    ``config["spare"]`` is false."""
    spare = config.get("spare", True)
    return load_decoder(config), load_decoder(config) if spare else None


def load_decoder(config: Mapping[str, Any]) -> Decoder:
    """A decoder for ``config``. Not pocketsphinx settings: its ``vocabulary`` entry (an app's
    words, compiled by :mod:`.vocabulary`), applied once loaded, and ``spare``."""
    from pocketsphinx import Decoder

    from . import vocabulary_decoder

    settings = dict(config)
    settings.pop("spare", None)
    vocabulary = settings.pop("vocabulary", None)
    if vocabulary:
        return vocabulary_decoder.load(settings, vocabulary)
    decoder = Decoder(**settings)
    add_front_end(decoder)
    return decoder


def main(conn: Connection, config: dict[str, Any]) -> None:
    """The worker process's entry point (``multiprocessing`` target)."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when we end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    batch_priority()
    try:
        decoder, spare = load_decoders(config)
    except Exception as e:  # a bad configuration: tell the parent, then exit
        _send(conn, ("error", f"pocketsphinx decoder failed to load: {e!r}"))
        return
    serve(conn, decoder, int(config.get("samprate", 16000)), spare)


def serve(conn: Connection, decoder: Decoder, rate: int, spare: Decoder | None = None) -> None:
    """The request loop, on a loaded decoder (and its spare): until the parent's end of
    ``conn`` closes. Also what a child of the fork server (:mod:`.pocketsphinx_forkserver`)
    runs."""
    vocabulary_process.split([decoder, spare], close=[conn])  # an app model, on another core
    if not _send(conn, ("ready", os.getpid())):
        return
    recognizer: Recognizer | None = None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed its end, or died
        op = msg[0]
        reply: tuple[Any, ...]
        try:
            if op == "audio":
                if recognizer is None:
                    raise RuntimeError("audio before start")
                reply = ("events", recognizer.process(msg[1]))
            elif op == "start":
                if recognizer is not None:
                    recognizer.close()
                    decoder, spare = recognizer.decoders  # they may have swapped
                recognizer = Recognizer(decoder, msg[1], spare)
                reply = ("ok",)
            elif op == "reset":
                if recognizer is not None:
                    recognizer.close()
                    decoder, spare = recognizer.decoders
                    recognizer = None
                reply = ("ok",)
            elif op == "recognize":
                if recognizer is not None:
                    recognizer.close()
                    decoder, spare = recognizer.decoders
                    recognizer = None
                reply = ("result", *_recognize(decoder, msg[1], rate))
            elif op == "crash":
                os._exit(3)
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as e:  # the decoder's state is unknown: the parent drops us
            _send(conn, ("error", f"{op}: {e!r}"))
            return
        if not _send(conn, reply):
            return


def batch_priority() -> None:
    """Decoding is throughput work; the parent's event loop, which paces every conversation's
    audio, is latency work. Under SCHED_BATCH (Linux) a decoder never preempts it on wakeup,
    yet still gets any CPU left (on 2 cores, 8 sessions with and without: no underruns in 3
    of 3 capacity runs, against 2 of 4)."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or not allowed: the default policy
        pass


def _send(conn: Connection, msg: tuple[Any, ...]) -> bool:
    try:
        conn.send(msg)
        return True
    except OSError:  # the parent is gone
        return False
