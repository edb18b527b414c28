"""The streaming recognizer's cepstral mean: the utterance's own, as a batch decode uses.

Real decoder (in this process, through the worker's Recognizer); speech is espeak's with a
room-like noise floor, generated once per test so both decodes hear the same samples.
"""

from __future__ import annotations

import numpy as np
import pytest
from pocketsphinx import Decoder

from causerie.providers.local import pocketsphinx_worker
from causerie.providers.local.pocketsphinx_cmn import PRIOR_FRAMES, CmnSeed, parse
from causerie.providers.local.pocketsphinx_stt import _DEFAULTS
from causerie.providers.local.pocketsphinx_worker import (
    Recognizer,
    RecognizerOptions,
    _recognize,
    with_floor,
)
from tests.speech import speak

RATE = 16000


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return Decoder(**_DEFAULTS)


def utterance(text: str, gain: float = 1.0) -> bytes:
    pcm = np.concatenate(
        [np.zeros(8000), speak(text, RATE, voice="en-us+f2") * gain, np.zeros(4800)]
    )
    noise = np.random.default_rng(1).normal(0.0, 20.0, len(pcm))
    return np.clip(pcm + noise, -32768, 32767).astype(np.int16).tobytes()


def batch_mean(pcm: bytes) -> list[float]:
    whole = Decoder(**_DEFAULTS)
    whole.start_utt()
    whole.process_raw(with_floor(pcm), False, True)
    whole.end_utt()
    return parse(whole.get_cmn())


def feed(rec: Recognizer, pcm: bytes) -> list[tuple[object, ...]]:
    events = []
    for i in range(0, len(pcm), 640):
        events += rec.process([pcm[i : i + 640]])
    return events + rec.process([None])


def test_own_mean_is_recovered_from_the_live_sums(decoder: Decoder) -> None:
    """After settling, the decoder's mean is the audio's own (what full_utt=True computes),
    not the model's default, whatever the prior was."""
    pcm = utterance("tell me about the cheese", gain=0.1)
    default = parse(decoder.get_cmn())
    seed = CmnSeed(decoder, RATE, seed_s=10.0, redecode=None)
    seed.start()
    decoder.start_utt()
    fed = with_floor(pcm)
    decoder.process_raw(fed, False, False)
    seed.fed([fed])
    seed.settle(lambda audio: decoder.process_raw(audio, False, False))
    decoder.end_utt()
    own, batch = parse(decoder.get_cmn()), batch_mean(pcm)
    assert seed.redecoded  # the first utterance of a stream is decoded again
    assert abs(own[0] - batch[0]) < 0.5, (own, batch)
    assert max(abs(a - b) for a, b in zip(own, batch, strict=True)) < 1.0
    assert seed.moved > 5 and own != default  # the model default was far off
    assert PRIOR_FRAMES == 500  # pocketsphinx's CMN_WIN, which the algebra relies on


def test_first_utterance_redecoded_later_ones_carry_the_mean(
    decoder: Decoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The flush's own rule (settling at a pause is test_pocketsphinx_early's).
    monkeypatch.setattr(pocketsphinx_worker, "EARLY_PAUSE_S", 99.0)
    decoder.set_cmn("40,3,-1")  # as a fresh worker starts
    rec = Recognizer(decoder, RecognizerOptions(RATE, 0.3, None, 0, 30.0))
    first = feed(rec, utterance("good morning"))
    assert rec._cmn.redecoded
    mean_after_first = parse(decoder.get_cmn())
    feed(rec, utterance("good morning"))
    assert not rec._cmn.redecoded  # carried over: no second decode, no added latency
    assert mean_after_first != [40.0, 3.0, -1.0] + [0.0] * 10
    assert [e for e in first if e[0] == "final"]


def test_whole_buffer_matches_a_batch_decode(decoder: Decoder) -> None:
    """STT.recognize's path decodes under the buffer's own mean, like full_utt=True."""
    pcm = utterance("i would like a cup of coffee")
    whole = Decoder(**_DEFAULTS)
    whole.start_utt()
    whole.process_raw(with_floor(pcm), False, True)
    whole.end_utt()
    decoder.set_cmn("40,3,-1")
    assert _recognize(decoder, pcm, RATE)[0] == whole.hyp().hypstr


def test_off_leaves_pocketsphinx_live_cmn(decoder: Decoder) -> None:
    decoder.set_cmn("40,3,-1")
    rec = Recognizer(decoder, RecognizerOptions(RATE, 0.3, None, 0, 30.0, cmn_seed_s=None))
    feed(rec, utterance("good morning"))
    assert not rec._cmn.redecoded and rec._cmn.moved == 0.0


def test_noise_floor_is_deterministic_and_clips() -> None:
    loud = np.full(100, 32767, dtype=np.int16).tobytes()
    out = np.frombuffer(with_floor(loud), dtype=np.int16)
    assert out.max() == 32767 and out.min() > 32700
    silent = bytes(3200)
    assert with_floor(silent) == with_floor(silent) != silent


def test_cmn_seed_option() -> None:
    from causerie.config.spec import ProviderSpec
    from causerie.errors import ProviderError
    from causerie.providers.info import BuildContext
    from causerie.providers.local.pocketsphinx_stt import _build

    def build(value: object) -> object:
        spec = ProviderSpec(provider="pocketsphinx", options={"cmn_seed": value})
        return _build(spec, BuildContext(language="en"))._opts.cmn_seed_s  # type: ignore[attr-defined]

    assert build(None) is None  # pocketsphinx's own live CMN
    assert build(0.8) == 0.8
    with pytest.raises(ProviderError, match=r"stt.options.cmn_seed: .*less than or equal to 2.8"):
        build(5)


def _settled(seed: CmnSeed, decoder: Decoder, pcm: bytes, cuts: list[float]) -> list[bool]:
    """Feed ``pcm`` up to each cut (seconds), settling there; whether each re-decoded."""
    redecodes: list[bool] = []
    done = 0
    for cut in cuts:
        end = int(cut * RATE) * 2
        part = with_floor(pcm[done:end])
        decoder.process_raw(part, False, False)
        seed.fed([part])
        done = end
        calls: list[bytes] = []

        def again(audio: bytes, calls: list[bytes] = calls) -> None:
            calls.append(audio)
            decoder.process_raw(audio, False, False)

        seed.settle(again)
        redecodes.append(bool(calls))
    return redecodes


def test_reseed_settles_the_longer_part_mean() -> None:
    """The second settle finds the mean of the first 2.8 s, as a batch decode of them does,
    though the first settle reset the decoder's sums (a fresh decoder each: the front end's
    noise estimate carries over between utterances, and so would change the cepstra)."""
    pcm = utterance("would you tell me more about the cheese and the honey from the valley")
    assert len(pcm) > 3.2 * RATE * 2
    batch = batch_mean(pcm[: int(2.8 * RATE) * 2])
    for again in (None, 4.0):
        decoder = Decoder(**_DEFAULTS)
        seed = CmnSeed(decoder, RATE, 1.2, None, reseed_s=2.8, reseed_redecode=again)
        seed.first = False  # a later utterance: the first settle decodes nothing again
        seed.start()
        decoder.start_utt()
        redecoded = _settled(seed, decoder, pcm, [1.2, 2.8])
        own = parse(decoder.get_cmn())
        decoder.end_utt()
        assert redecoded == [False, again is not None]  # it moved by more than 4
        assert abs(own[0] - batch[0]) < 0.5, (own, batch)
        assert max(abs(a - b) for a, b in zip(own, batch, strict=True)) < 1.0
        assert not seed.due  # two settles, then no more


def test_reseed_after_a_redecode_counts_the_second_pass(decoder: Decoder) -> None:
    """A re-decode's cepstra differ from the first pass's (the noise estimate moved on);
    the next settle counts the ones the decoder used, so its mean stays near the batch's."""
    pcm = utterance("would you tell me more about the cheese and the honey from the valley")
    decoder.set_cmn("40,3,-1")
    seed = CmnSeed(decoder, RATE, 1.2, None, reseed_s=2.8, reseed_redecode=0.0)
    seed.start()
    decoder.start_utt()
    assert _settled(seed, decoder, pcm, [1.2, 2.8]) == [True, True]
    own, batch = parse(decoder.get_cmn()), batch_mean(pcm[: int(2.8 * RATE) * 2])
    decoder.end_utt()
    assert abs(own[0] - batch[0]) < 4.0 and seed.moved > 0, (own, batch)


def test_reseed_at_the_flush_sets_the_mean_without_a_decode(decoder: Decoder) -> None:
    """An utterance that ends between the two settles: the flush must not wait on a decode."""
    pcm = utterance("tell me about the cheese")
    decoder.set_cmn("40,3,-1")
    seed = CmnSeed(decoder, RATE, 1.2, None, reseed_s=2.8, reseed_redecode=0.0)
    seed.start()
    decoder.start_utt()
    _settled(seed, decoder, pcm, [1.2])
    part = with_floor(pcm[int(1.2 * RATE) * 2 :])
    decoder.process_raw(part, False, False)
    seed.fed([part])
    calls: list[bytes] = []
    seed.settle(calls.append, final=True)
    mean = parse(decoder.get_cmn())
    decoder.end_utt()
    assert not calls and seed.moved > 0
    assert abs(mean[0] - batch_mean(pcm)[0]) < 4.0  # after a re-decode: see above


def test_cmn_reseed_option() -> None:
    from causerie.config.spec import ProviderSpec
    from causerie.errors import ProviderError
    from causerie.providers.info import BuildContext
    from causerie.providers.local.pocketsphinx_stt import _build

    def build(**options: object) -> object:
        spec = ProviderSpec(provider="pocketsphinx", options=options)
        return _build(spec, BuildContext(language="en"))._opts.cmn_reseed_s  # type: ignore[attr-defined]

    assert build() == (2.8, 4.5)
    assert build(cmn_reseed=2.5) == (2.5,)
    assert build(cmn_reseed=None) is None  # settled once
    assert build(cmn_reseed=[]) is None
    assert build(cmn_seed=None, cmn_reseed=1.0) == (1.0,)  # unused with pocketsphinx's own CMN
    with pytest.raises(ProviderError, match=r"cmn_reseed \(1.0\) must be more than cmn_seed"):
        build(cmn_seed=1.5, cmn_reseed=1.0)
    with pytest.raises(
        ProviderError, match=r"stt.options.cmn_reseed: .*3.5 must be from 0.5 to 2.8"
    ):
        build(cmn_reseed=3.5)
    with pytest.raises(ProviderError, match=r"cmn_reseed: .*2.0 must be from 2.5 to 5.5 s, after"):
        build(cmn_reseed=[2.5, 2.0])
    with pytest.raises(ProviderError, match=r"cmn_reseed: .*6.0 must be from 2.5 to 5.5"):
        build(cmn_reseed=[2.5, 6.0])
    with pytest.raises(ProviderError, match=r"stt.options.cmn_reseed: .*number"):
        build(cmn_reseed=[2.5, True])
