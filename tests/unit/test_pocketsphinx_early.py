"""A short utterance's first settle begun when its words pause (pocketsphinx_worker's
EARLY_PAUSE_S): the flush finds its re-decode done instead of decoding the utterance again.

Real decoders, in this process, through the worker's Recognizer; ``Counting`` (the catch-up
tests') counts the audio each decoder hears.
"""

from __future__ import annotations

import numpy as np
import pytest

from causerie.providers.local import pocketsphinx_worker as pw
from causerie.providers.local.pocketsphinx_worker import Recognizer
from tests.speech import speak
from tests.unit.test_pocketsphinx_catchup import CHUNK, RATE, Counting, final, options


class Total(Counting):
    """Also counts every sample decoded, across utterances."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> None:
        self.total += len(data) // 2
        super().process_raw(data, no_search, full_utt)


@pytest.fixture(scope="module")
def short_speech() -> bytes:
    """A short question between 0.5 s of silence and 0.2 s (~the session VAD's): with the
    worker's 0.3 s pre-roll, shorter than the CMN seed, so its first settle falls at the flush."""
    pcm = np.concatenate([np.zeros(8000), speak("who are you", RATE), np.zeros(3200)])
    out = pcm.astype(np.int16).tobytes()  # the worker adds its own noise floor
    assert len(out) < 1.3 * RATE * 2
    return out


def run(rec: Recognizer, pcm: bytes, *decoders: Total) -> tuple[list[tuple[object, ...]], int]:
    """``pcm`` in 20 ms requests, then a flush; also the samples decoded by the flush."""
    events = []
    for i in range(0, len(pcm), CHUNK):
        events += rec.process([pcm[i : i + CHUNK]])
    before = sum(d.total for d in decoders)
    events += rec.process([None])
    return events, sum(d.total for d in decoders) - before


def test_the_flush_finds_the_redecode_done(short_speech: bytes) -> None:
    """A stream's first utterance is always decoded again under its own mean: settled when
    the words pause, that is done before the flush, which then decodes no audio again.
    (``cmn_redecode: None``: the flush's own settle never re-decodes a later mean, so the
    test does not hang on how far the silence moves it; the next test covers that.)"""
    live, spare = Total(), Total()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options(cmn_redecode=None), spare)
    events, at_flush = run(rec, short_speech, live, spare)
    assert final(events)
    assert live.utts == 2  # restarted once, at the pause
    assert at_flush < 0.05 * RATE  # what short of a frame was left, at most
    assert spare.utts == 0  # the spare (and its memory) is left alone

    # Without it (the pause never counts), the flush restarts the utterance and decodes it all.
    live2 = Total()
    live2.set_cmn("40,3,-1")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pw, "EARLY_PAUSE_S", 99.0)
        rec2 = Recognizer(live2, options(cmn_redecode=None))
        events2, at_flush2 = run(rec2, short_speech, live2)
    assert final(events2)
    assert live2.utts == 2 and at_flush2 > 0.6 * RATE


def test_the_flush_does_not_decode_again_after_the_pause(short_speech: bytes) -> None:
    """Decoded again at its pause under its own mean, the utterance is not decoded a third
    time at the flush, however far the silence after its words moved the mean since
    (``cmn_redecode: 0.0``: any move): that pass would only delay the reply. The flush's
    mean, silence included, is still the next utterance's prior, and the next utterance
    settles at its own pause again."""
    live = Total()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options(cmn_redecode=0.0))
    events, at_flush = run(rec, short_speech, live)
    assert final(events)
    assert live.utts == 2  # at the pause only
    assert at_flush < 0.05 * RATE  # what short of a frame was left, at most
    prior = live.get_cmn()

    events, at_flush = run(rec, short_speech, live)
    assert final(events)
    assert live.utts == 4 and at_flush < 0.05 * RATE  # again at its pause, not at the flush
    assert live.get_cmn() != prior


def test_a_pause_that_kept_the_prior_is_final_too(short_speech: bytes) -> None:
    """A later utterance whose mean at the pause stayed within ``cmn_redecode`` of the prior
    keeps the words decoded under the prior: the flush does not decode them again, even
    when the silence since moved the mean past the limit (here: set to 0 after the pause)."""
    live = Total()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options(cmn_redecode=1e9), None)
    events, _ = run(rec, short_speech, live)  # the first utterance: always decoded again
    assert final(events)
    utts = live.utts
    events = []
    for i in range(0, len(short_speech), CHUNK):
        events += rec.process([short_speech[i : i + CHUNK]])
    assert live.utts == utts + 1  # the words as they came, under the prior: not restarted
    assert rec._cmn._paused  # ...and judged at the pause
    rec._cmn._redecode = 0.0  # any move counts from here on
    before = live.total
    events += rec.process([None])
    assert final(events)
    assert live.total - before < 0.05 * RATE and live.utts == utts + 1


def test_speech_that_goes_on_after_the_pause(short_speech: bytes) -> None:
    """The words resume after the early settle: the utterance goes on under that mean, is
    heard whole, and the next utterance is heard too."""
    live = Total()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options())
    gap = bytes(int(0.15 * RATE) * 2)
    head = short_speech[: -int(0.2 * RATE) * 2]
    events, _ = run(rec, head + gap + short_speech[int(0.5 * RATE) * 2 :], live)
    assert live.utts >= 2  # settled early at the first pause
    assert len(final(events).split()) >= 4  # more than the first three words
    events, _ = run(rec, short_speech, live)
    assert final(events)
