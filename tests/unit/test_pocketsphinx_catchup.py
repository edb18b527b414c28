"""A later settle's re-decode on the worker's spare decoder, caught up while the live pass goes
on (pocketsphinx_catchup): the flush never waits for a whole re-decode.

Real decoders, in this process, through the worker's Recognizer. ``Counting`` subclasses the
real Decoder only to count the audio each one decodes.
"""

from __future__ import annotations

import numpy as np
import pytest
from pocketsphinx import Decoder

from causerie.providers.local.pocketsphinx_catchup import CATCHUP_RATIO, CatchUp
from causerie.providers.local.pocketsphinx_cmn import parse
from causerie.providers.local.pocketsphinx_stt import _DEFAULTS
from causerie.providers.local.pocketsphinx_worker import (
    Recognizer,
    RecognizerOptions,
    load_decoders,
)
from tests.speech import speak

RATE = 16000
CHUNK = 640  # 20 ms


class Counting(Decoder):
    """A real decoder that counts the samples it decodes, per utterance."""

    def __init__(self) -> None:
        super().__init__(**_DEFAULTS)
        self.samples = 0
        self.utts = 0

    def start_utt(self) -> None:
        super().start_utt()
        self.samples, self.utts = 0, self.utts + 1

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> None:
        self.samples += len(data) // 2
        super().process_raw(data, no_search, full_utt)


@pytest.fixture(scope="module")
def long_speech() -> bytes:
    """~5 s of speech, then a tail of silence; the same samples for every test (espeak-ng's
    length varies a little between machines and runs)."""
    text = "would you tell me more about the cheese and the honey from the valley and the hills"
    pcm = np.concatenate([np.zeros(4800), speak(text, RATE, voice="en-us+f2"), np.zeros(4800)])
    noise = np.random.default_rng(1).normal(0.0, 20.0, len(pcm))
    out = np.clip(pcm + noise, -32768, 32767).astype(np.int16).tobytes()
    assert len(out) > 3.6 * RATE * 2
    return out


def options(**kw: object) -> RecognizerOptions:
    base: dict[str, object] = dict(
        sample_rate=RATE,
        interim_interval=0.3,
        endpoint_silence=None,
        vad_mode=0,
        max_utterance_s=30.0,
        flushed=True,
        cmn_reseed_s=2.8,  # one later settle (the default adds 4.5 s)
        cmn_reseed_redecode=0.0,  # ...which always re-decodes
    )
    return RecognizerOptions(**{**base, **kw})  # type: ignore[arg-type]


def feed(rec: Recognizer, pcm: bytes, end: float | None = None) -> list[tuple[object, ...]]:
    """``pcm`` up to ``end`` seconds in 20 ms requests, then a flush."""
    stop = len(pcm) if end is None else int(end * RATE) * 2
    events = []
    for i in range(0, stop, CHUNK):
        events += rec.process([pcm[i : min(i + CHUNK, stop)]])
    return events + rec.process([None])


def final(events: list[tuple[object, ...]]) -> str:
    [text] = [e[2] for e in events if e[0] == "final"]
    return str(text)


def test_the_spare_catches_up_and_takes_over(long_speech: bytes) -> None:
    """At the second settle the live decoder goes on; the spare decodes the utterance from its
    start, CATCHUP_RATIO times faster than the audio comes, then answers in its place."""
    live, spare = Counting(), Counting()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options(), spare)
    events = feed(rec, long_speech)
    assert spare.utts == 1 and rec.decoders == (spare, live)  # swapped
    assert spare.samples >= 2.8 * RATE  # it decoded the utterance from its start
    assert final(events)
    # The live decoder restarted once, at the first settle (a stream's first utterance is
    # re-decoded in line there), never at the second.
    assert live.utts == 2


def test_the_flush_never_waits_for_a_whole_redecode(long_speech: bytes) -> None:
    """An utterance that ends just after the second settle: the spare is far behind, so it is
    dropped and the live pass answers at once; in line, the flush would re-decode nothing
    either, but the settle's re-decode would have been under way."""
    live, spare = Counting(), Counting()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options(), spare)
    stop = 3.0  # ~0.2 s after the settle point: the spare has ~2 s to go
    events = feed(rec, long_speech, end=stop)
    assert spare.utts == 1 and spare.samples < 0.3 * CATCHUP_RATIO * RATE
    assert rec.decoders == (live, spare)  # not swapped: the live pass answered
    assert final(events)
    # Nothing decoded twice at the flush: the live decoder heard the audio once, after the seed.
    assert live.samples <= stop * RATE + CHUNK


def test_in_line_without_a_spare(long_speech: bytes) -> None:
    """``spare: false``: the settle re-decodes on the live decoder, as before."""
    live = Counting()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options())
    assert final(feed(rec, long_speech))
    assert live.utts == 3  # each settle restarted the utterance on it
    assert rec.decoders == (live, None)


def test_the_next_utterance_starts_from_the_winner_mean(long_speech: bytes) -> None:
    """After a swap, the next utterance runs on the decoder that answered, whose mean carries
    over (a stream's later utterances start from the last one's mean)."""
    live, spare = Counting(), Counting()
    live.set_cmn("40,3,-1")
    rec = Recognizer(live, options(), spare)
    feed(rec, long_speech)
    carried = spare.get_cmn()
    events = feed(rec, long_speech[: int(2.0 * RATE) * 2])
    assert spare.utts >= 2 and live.utts == 2  # the second utterance ran on the winner
    assert final(events)
    assert parse(carried)[0] != 40.0


def test_catchup_steps_by_the_ratio() -> None:
    """Each request decodes ratio x its audio of the backlog; at the flush a pass this close
    is finished, a farther one dropped."""
    spare = Counting()
    done: list[int] = []
    catchup = CatchUp(spare, lambda d, pcm: done.append(len(pcm) // 2), RATE, 4.0, 0.3)
    second = bytes(RATE * 2)
    catchup.begin("40,3,-1", [second[: 320 * 2]] * 100)  # 2 s in 20 ms pieces
    assert not catchup.step(RATE // 10) and sum(done) == 4 * RATE // 10
    catchup.feed([second[: 320 * 2]] * 5)  # 0.1 s more arrived
    assert not catchup.step(RATE // 10)
    assert not catchup.finish() and not catchup.active  # 1.3 s left: dropped
    catchup.begin("40,3,-1", [second[: 320 * 2]] * 10)  # 0.2 s
    assert catchup.finish() and sum(done) == 8 * RATE // 10 + RATE // 5
    catchup.cancel()


def test_the_worker_loads_a_spare_unless_told_not_to() -> None:
    decoder, spare = load_decoders(_DEFAULTS)
    assert spare is not None and spare is not decoder
    assert load_decoders({**_DEFAULTS, "spare": False})[1] is None
