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
the model's guess, so the audio so far is decoded again under the own mean (the cost falls
at the flush for an utterance shorter than the seed: one more decode of it). Later ones are
re-decoded only when the mean moved by more than ``redecode`` (Euclidean distance over the
13 coefficients; ``None``: never): the previous utterance's mean, carried over by the live
CMN, is a good prior for the same speaker and microphone.

Standard library only: this runs in the worker process (see :mod:`.pocketsphinx_worker`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from pocketsphinx import Decoder as _Decoder

    from .vocabulary_decoder import DecoderPair

    Decoder: TypeAlias = _Decoder | DecoderPair

PRIOR_FRAMES = 500  # pocketsphinx's CMN_WIN: the weight set_cmn() gives the mean it sets
_MAX_FRAMES = 300  # past 800 frames in all, live CMN rescales its sums (cmn_live_shiftwin)
_MIN_FRAMES = 20  # fewer cepstra than this (0.2 s) give no usable mean


def parse(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def fmt(vec: Sequence[float]) -> str:
    return ",".join(f"{x:.4f}" for x in vec)


def distance(a: Sequence[float], b: Sequence[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=False)))


class CmnSeed:
    """One utterance's CMN on ``decoder``: :meth:`start` at ``start_utt``, :meth:`fed` for
    each chunk decoded, :meth:`settle` before ``end_utt`` (and whenever ``due``)."""

    def __init__(
        self, decoder: Decoder, rate: int, seed_s: float | None, redecode: float | None
    ) -> None:
        self._decoder = decoder
        self._rate = rate
        self._on = seed_s is not None  # None: pocketsphinx's own live CMN, untouched
        self._seed = int((seed_s or 0.0) * rate)
        self._redecode = redecode
        config = decoder.config
        self._shift = rate / float(config["frate"])
        self._window = int(float(config["wlen"]) * rate)
        self._prior: list[float] = []
        self._audio: list[bytes] | None = None  # decoded since start, until settled
        self._samples = 0
        self.moved = 0.0  # how far the last settled mean moved from its prior
        self.redecoded = False
        self.first = True  # no utterance settled yet on this stream: the prior is a guess

    @property
    def due(self) -> bool:
        return self._audio is not None and self._samples >= self._seed

    def waiting(self, samples: int) -> bool:
        """Not settled yet, and ``samples`` of the utterance are enough to settle."""
        return self._audio is not None and samples >= self._seed

    def start(self) -> None:
        """Before ``start_utt``: the prior is the decoder's current mean, with a known weight."""
        if not self._on:
            return
        self._prior = parse(self._decoder.get_cmn())
        self._decoder.set_cmn(fmt(self._prior))
        self._audio, self._samples = [], 0
        self.moved, self.redecoded = 0.0, False

    def fed(self, frames: Sequence[bytes]) -> None:
        """``frames`` were just decoded (before the mean settled)."""
        if self._audio is None:
            return
        for pcm in frames:
            self._audio.append(pcm)
            self._samples += len(pcm) // 2

    def settle(self, decode: Callable[[bytes], None]) -> None:
        """Replace the prior with the utterance's own mean so far; re-decode the audio so far
        (with ``decode``, after restarting the utterance) when the mean moved a lot."""
        audio, self._audio = self._audio, None
        if audio is None:
            return
        # Every frame counts: the worker's noise floor leaves none at zero energy (which
        # live CMN would skip).
        frames = int((self._samples - self._window) / self._shift) + 1
        if frames < _MIN_FRAMES or frames > _MAX_FRAMES:
            return  # too little to go on, or past what the sums can tell: keep live CMN
        live = parse(self._decoder.get_cmn(True))
        own = [
            (m * (PRIOR_FRAMES + frames) - PRIOR_FRAMES * p) / frames
            for m, p in zip(live, self._prior, strict=False)
        ]
        self.moved = distance(own, self._prior)
        first, self.first = self.first, False
        if first or (self._redecode is not None and self.moved > self._redecode):
            self._decoder.end_utt()
            self._decoder.set_cmn(fmt(own))
            self._decoder.start_utt()
            decode(b"".join(audio))
            self.redecoded = True
        else:
            self._decoder.set_cmn(fmt(own))
