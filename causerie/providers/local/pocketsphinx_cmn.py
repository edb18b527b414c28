"""Cepstral mean normalisation (CMN) for streaming pocketsphinx: the utterance's own mean.

A whole-utterance decode (``full_utt=True``) subtracts the utterance's own cepstral mean. A
streaming decode cannot: pocketsphinx's live CMN subtracts a running mean that starts from
the model's ``cmninit`` ("40,3,-1") and only moves at the end of an utterance, by a fifth of
the way or so. So the first utterances of a stream, or any new microphone, level or voice,
are decoded against the wrong mean and lose words ("ten of clubs" heard as "with an up
close", DESIGN.md §5).

:class:`CmnSeed` fixes that within the utterance. The decoder's live CMN sums the raw
cepstra it sees on top of a prior worth ``PRIOR_FRAMES`` frames, which we set, so after
``n`` frames the utterance's own mean is recoverable exactly::

    live = (PRIOR_FRAMES * prior + sum) / (PRIOR_FRAMES + n)
    own  = sum / n = (live * (PRIOR_FRAMES + n) - PRIOR_FRAMES * prior) / n

The own mean is settled once per utterance: after ``seed`` seconds of it (pre-roll
included), or at the flush of a shorter one. On a stream's first utterance the prior is only
the model's guess, so the audio so far is decoded again under the own mean. For an utterance
shorter than the seed that decode would fall at the flush, where the reply waits; the worker
settles it early instead, once its words pause (``settle(early=True)``), and the flush then
decodes nothing again (what moved the mean since is the silence after the words), whether the
pause re-decoded or found the prior close enough. Later ones are
re-decoded only when the mean moved by more than ``redecode`` (Euclidean distance over the
13 coefficients; ``None``: never): the previous utterance's mean, carried over by the live
CMN, is a good prior for the same speaker and microphone.

A longer utterance is settled again at each of the ``reseed`` points: the first second of a
sentence is a poor estimate of its whole (on the bench's human recordings, the mean at 2.8 s
lies 5-18 units from the one at 1.2 s). Each settle resets the decoder's sums to the mean it
sets (after a re-decode, once the replayed cepstra are counted), so the utterance's mean so
far is the known part's sum plus what the sums added since. Its audio is decoded again if that
mean moved more than ``reseed_redecode``, but never at the flush, where the reply waits. With
a ``catchup`` (the worker's spare decoder, :mod:`.pocketsphinx_catchup`) that re-decode runs
there, in slices, while this decoder goes on under the new mean; :meth:`CmnSeed.adopt` hands
the sums over when the spare takes its place.
Past ``_MAX_FRAMES`` the sums are rescaled and nothing more can be told.

With ``defer``, an utterance's first pass runs the front end only (:data:`FRONT_END`, a
search of one silence word that costs ~2 % of the language model's) until its first settle:
the sums fill as they would, and the audio is decoded once, at the settle, under the mean
the settle chose. Short utterances nearly all re-decode there (their mean moves more than
``redecode`` from the last one's), so that pass was mostly thrown away. No interim until then.

Standard library only: this runs in the worker process (see :mod:`.pocketsphinx_worker`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from pocketsphinx import Decoder as _Decoder

    from .pocketsphinx_catchup import CatchUp
    from .vocabulary_decoder import DecoderPair

    Decoder: TypeAlias = _Decoder | DecoderPair

PRIOR_FRAMES = 500  # pocketsphinx's CMN_WIN: the weight set_cmn() gives the mean it sets
_MAX_FRAMES = 300  # past 800 frames in all, live CMN rescales its sums (cmn_live_shiftwin)
_MIN_FRAMES = 20  # fewer cepstra than this (0.2 s) give no usable mean
FRONT_END = "causerie-front-end"  # the search that only fills the sums (see add_front_end)


def add_front_end(decoder: _Decoder) -> None:
    """Give ``decoder`` the :data:`FRONT_END` search: one state that loops on silence, so the
    search has next to nothing to score, yet every frame's cepstra reach the live CMN."""
    if decoder.lookup_word("<sil>") is None:
        return  # a model without it: its utterances are decoded as they come
    fsg = decoder.create_fsg(FRONT_END, 0, 0, [(0, 0, 0, "<sil>")])
    decoder.add_fsg(FRONT_END, fsg)


def parse(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def fmt(vec: Sequence[float]) -> str:
    return ",".join(f"{x:.4f}" for x in vec)


def distance(a: Sequence[float], b: Sequence[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=False)))


class CmnSeed:
    """One utterance's CMN on ``decoder``: :meth:`start` at ``start_utt``, :meth:`fed` for
    each chunk decoded, :meth:`settle` before ``end_utt`` (and whenever ``due``).
    ``reseed_s`` and ``reseed_redecode``: the second settle (None: none; see above)."""

    def __init__(
        self,
        decoder: Decoder,
        rate: int,
        seed_s: float | None,
        redecode: float | None,
        reseed_s: float | Sequence[float] | None = None,
        reseed_redecode: float | None = None,
        catchup: CatchUp | None = None,
        defer: bool = False,
    ) -> None:
        self._decoder = decoder
        self._defer = defer and seed_s is not None
        self._search = ""  # while deferred: the search to go back to; "" when not deferred
        self._rate = rate
        self._on = seed_s is not None  # None: pocketsphinx's own live CMN, untouched
        self._points = [int((seed_s or 0.0) * rate)]
        later = [reseed_s] if isinstance(reseed_s, (int, float)) else list(reseed_s or ())
        for point in sorted(later):
            if seed_s is not None and point > seed_s:
                self._points.append(int(point * rate))
        self._catchup = catchup
        self._redecode = redecode
        self._reseed_redecode = reseed_redecode
        config = decoder.config
        self._shift = rate / float(config["frate"])
        self._window = int(float(config["wlen"]) * rate)
        self._base: list[float] = []  # the mean the decoder's sums started from
        self._audio: list[bytes] | None = None  # decoded since start, until settled
        self._samples = 0
        self._stage = 0  # settles done in this utterance
        self._known: list[float] = []  # sum of the cepstra of the first _known_n frames
        self._known_n = 0
        self.moved = 0.0  # how far the last settled mean moved from its prior
        self.redecoded = False
        self.first = True  # no utterance settled yet on this stream: the prior is a guess
        self._paused = False  # settled early, at its words' pause (see settle)

    @property
    def due(self) -> bool:
        return self.waiting(self._samples)

    def waiting(self, samples: int) -> bool:
        """Not settled yet, and ``samples`` of the utterance are enough to settle."""
        return self._audio is not None and samples >= self._points[self._stage]

    def start(self) -> None:
        """Before ``start_utt``: the prior is the decoder's current mean, with a known weight."""
        if not self._on:
            return
        self.stop()
        self._base = parse(self._decoder.get_cmn())
        self._decoder.set_cmn(fmt(self._base))
        if self._defer:
            try:
                search = self._decoder.current_search()
                self._decoder.activate_search(FRONT_END)
                self._search = search
            except (AttributeError, KeyError):  # no searches (a stand-in), or none added
                self._search = ""
        self._audio, self._samples, self._stage = [], 0, 0
        self._known, self._known_n = [0.0] * len(self._base), 0
        self.moved, self.redecoded, self._paused = 0.0, False, False

    def fed(self, frames: Sequence[bytes]) -> None:
        """``frames`` were just decoded (before the mean settled)."""
        if self._audio is None:
            return
        for pcm in frames:
            self._audio.append(pcm)
            self._samples += len(pcm) // 2

    @property
    def deferred(self) -> bool:
        """The front end only has run on this utterance so far: no words yet."""
        return bool(self._search)

    @property
    def unsettled(self) -> bool:
        """The utterance's first settle is still to come."""
        return self._audio is not None and not self._stage

    @property
    def early(self) -> bool:
        """Unsettled, and with enough audio for an early settle."""
        frames = int((self._samples - self._window) / self._shift) + 1
        return self.unsettled and frames >= _MIN_FRAMES

    def settle(
        self, decode: Callable[[bytes], None], final: bool = False, early: bool = False
    ) -> None:
        """Replace the prior with the utterance's own mean so far; re-decode the audio so far
        (with ``decode``, after restarting the utterance) when the mean moved a lot.
        ``final``: the flush is waiting (a later settle then re-decodes nothing).
        ``early``: a short utterance's first settle, when its words pause, so that its
        re-decode is done before the flush. Only when it re-decodes: the first settle proper
        still follows, with this mean as its prior."""
        audio = self._audio
        if audio is None:
            return
        stage = self._stage
        if not early:
            self._stage += 1
            if final or self._stage >= len(self._points):
                self._audio = None
        # Every frame counts: the worker's noise floor leaves none at zero energy (which
        # live CMN would skip).
        frames = int((self._samples - self._window) / self._shift) + 1
        new = frames - self._known_n  # what the sums hold beyond the prior
        if frames < _MIN_FRAMES or new > _MAX_FRAMES:
            self._audio = None  # too little to go on, or past what the sums can tell
            self._undefer(audio, decode)
            return
        added = self._sums(new)
        total = [k + a for k, a in zip(self._known, added, strict=False)]
        own = [t / frames for t in total]
        moved = distance(own, self._base)
        if stage == 0:
            # At a pause, the mean lacks the silence after the words that the prior (the
            # last utterance's settled mean) holds, so it moves further and re-decodes more
            # often here: work moved from the flush to the pause (same WER and CPU on the
            # bench's short utterances, docs/PERFORMANCE.md).
            again = self.first or (self._redecode is not None and moved > self._redecode)
            if early and not again:
                self._undefer(audio, decode)  # the words so far, under the prior
                self._paused = True
                return  # nothing more to do before the flush: it settles as usual
            if final and self._paused:
                # Judged at the pause (and decoded under its own mean if it moved): what
                # moved it since is the silence after the words. Decoding again would only
                # delay the reply (~0.15 s: 7 of 12 "who are you" in transport_latency).
                again = False
            self._paused = early
            self.first = False
            if self._search and not again:  # the one pass, under the prior
                self._undefer(audio, decode)
                total = self._sums(frames)  # that pass's cepstra
                own = [t / frames for t in total]
        else:
            limit = self._reseed_redecode
            again = not final and limit is not None and moved > limit
            catchup = self._catchup
            if catchup is not None and not final and (again or catchup.active):
                # The spare decodes it again, in the background (a pass under an older
                # mean is dropped); the live pass goes on under the new mean meanwhile.
                catchup.begin(fmt(own), audio)
                again = False
        self.moved = moved
        self._base, self._known, self._known_n = own, total, frames
        if again:
            self._restart(own)
            decode(b"".join(audio))
            self.redecoded = True
            # The second pass's cepstra differ a little from the first's (the front end's
            # noise estimate has moved on): count the ones the decoder used.
            self._known = self._sums(frames)
        self._decoder.set_cmn(fmt(own))  # the sums hold the prior only, from here

    def _restart(self, mean: Sequence[float]) -> None:
        """The utterance again from its start, under ``mean`` (and the words' search)."""
        self._decoder.end_utt()
        self.stop()
        self._decoder.set_cmn(fmt(mean))
        self._decoder.start_utt()

    def _undefer(self, audio: Sequence[bytes], decode: Callable[[bytes], None]) -> None:
        """Deferred: decode the audio so far, once, under the prior (the sums then hold it)."""
        if self._search:
            self._restart(self._base)
            decode(b"".join(audio))

    def stop(self) -> None:
        """Back to the words' search (after ``end_utt``): the utterance restarts, or ended
        unsettled (dropped, reset)."""
        if self._search:
            self._decoder.activate_search(self._search)
            self._search = ""

    def adopt(self, decoder: Decoder) -> None:
        """``decoder``, whose pass under the current mean has caught up, takes over from the
        live one (call before ending that one: the sums so far are read from it)."""
        if self._audio is not None:
            frames = int((self._samples - self._window) / self._shift) + 1
            new = frames - self._known_n
            if new > _MAX_FRAMES:
                self._audio = None  # past what the sums can tell: no settle left
            else:
                added = self._sums(new)
                self._known = [k + a for k, a in zip(self._known, added, strict=False)]
                self._known_n = frames
            decoder.set_cmn(fmt(self._base))  # its sums hold the prior only, from here
        self._decoder = decoder

    def _sums(self, frames: int) -> list[float]:
        """The sum of the cepstra the decoder's live CMN added since the last set_cmn."""
        live = parse(self._decoder.get_cmn(True))
        return [
            m * (PRIOR_FRAMES + frames) - PRIOR_FRAMES * b
            for m, b in zip(live, self._base, strict=False)
        ]
