"""An utterance's first pass deferred until its mean settles (``defer_first_pass``): only the
front end runs before that (pocketsphinx_cmn's FRONT_END search), then the words are decoded
once, under the settled mean, instead of once before it and again after.

Real decoders, in this process, through the worker's Recognizer; ``BySearch`` counts the
audio each search hears.
"""

from __future__ import annotations

import numpy as np
import pytest

from causerie.providers.local.pocketsphinx_cmn import FRONT_END, add_front_end
from causerie.providers.local.pocketsphinx_worker import Recognizer
from tests.speech import speak
from tests.unit.test_pocketsphinx_catchup import CHUNK, RATE, Counting, final, options

WORDS = "_default"  # pocketsphinx's name for the language model's search


class BySearch(Counting):
    """Counts the samples decoded under each search, across utterances."""

    def __init__(self, front_end: bool = True) -> None:
        super().__init__()
        if front_end:
            add_front_end(self)
        self.heard: dict[str, int] = {}

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> None:
        search = self.current_search()
        self.heard[search] = self.heard.get(search, 0) + len(data) // 2
        super().process_raw(data, no_search, full_utt)


@pytest.fixture(scope="module")
def question() -> bytes:
    """A short question, with 0.5 s of silence before and 0.2 s after (the session VAD's)."""
    pcm = np.concatenate([np.zeros(8000), speak("who are you", RATE), np.zeros(3200)])
    return pcm.astype(np.int16).tobytes()


def run(rec: Recognizer, pcm: bytes) -> list[tuple[object, ...]]:
    """``pcm`` in 20 ms requests, then a flush."""
    events = []
    for i in range(0, len(pcm), CHUNK):
        events += rec.process([pcm[i : i + CHUNK]])
    return events + rec.process([None])


def test_a_first_utterance_is_decoded_once(question: bytes) -> None:
    """A stream's first utterance is always decoded under its own mean. Deferred, the words'
    search hears it once; not deferred, it hears most of it twice (before and after).
    (``cmn_redecode: None``: the flush's own settle never decodes it again, whatever the
    silence does to the mean; test_pocketsphinx_early covers that rule.)"""
    deferred = BySearch()
    events = run(Recognizer(deferred, options(cmn_redecode=None)), question)
    assert final(events)
    gated = len(question) // 2 - 8000 + int(0.3 * RATE)  # from the pre-roll on, at most
    assert deferred.heard[WORDS] <= gated
    assert deferred.heard[FRONT_END] > 0.5 * RATE  # the front end ran until the pause
    assert deferred.current_search() == WORDS

    live = BySearch()
    events = run(Recognizer(live, options(cmn_redecode=None, defer_first_pass=False)), question)
    assert final(events)
    assert FRONT_END not in live.heard
    assert live.heard[WORDS] > deferred.heard[WORDS] + 0.5 * RATE


def test_interims_begin_at_the_settle(question: bytes) -> None:
    """No interim before the mean settles (the seed's 1.2 s, pre-roll included), then as usual;
    the next utterance, which may not re-decode, is heard too."""
    text = "would you tell me more about the cheese and the honey from the valley and the hills"
    pcm = np.concatenate([np.zeros(8000), speak(text, RATE, voice="en-us+f2"), np.zeros(3200)])
    long_speech = pcm.astype(np.int16).tobytes()
    decoder = BySearch()
    rec = Recognizer(decoder, options())
    first_interim = None
    for i in range(0, len(long_speech), CHUNK):
        if any(e[0] == "interim" for e in rec.process([long_speech[i : i + CHUNK]])):
            first_interim = first_interim or (i + CHUNK) / 2 / RATE
    assert first_interim is not None
    assert first_interim >= 0.5 + 1.2 - 0.3  # silence, then the seed less the pre-roll
    assert len(final(rec.process([None])).split()) >= 8
    assert final(run(rec, question))


def test_an_utterance_dropped_while_deferred_leaves_the_words_search(question: bytes) -> None:
    """Reset mid-utterance (the stream closed) before anything settled: the decoder is back on
    the words' search, and the next stream on it hears its question."""
    decoder = BySearch()
    rec = Recognizer(decoder, options())
    half = question[: len(question) // 2]
    for i in range(0, len(half), CHUNK):
        rec.process([half[i : i + CHUNK]])
    assert decoder.current_search() == FRONT_END
    rec.close()
    assert decoder.current_search() == WORDS
    assert final(run(Recognizer(decoder, options()), question))


def test_a_decoder_without_the_front_end_decodes_as_it_comes(question: bytes) -> None:
    """A decoder that has no FRONT_END search (a model without ``<sil>``, a test's own): the
    option changes nothing."""
    plain = BySearch(front_end=False)
    assert final(run(Recognizer(plain, options()), question))
    assert set(plain.heard) == {WORDS}
