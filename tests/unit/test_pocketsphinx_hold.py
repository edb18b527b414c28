"""An open utterance's silence after the words: held, not decoded, unless speech resumes.

A late flush (a busy server's VAD) must not make an utterance dearer to decode: that fed
on itself until 12 conversations got no answer (docs/RELIABILITY.md, Soak). Real decoder,
in this process, through the worker's Recognizer."""

from __future__ import annotations

import numpy as np
import pytest
from pocketsphinx import Decoder

from causerie.providers.local import pocketsphinx_worker
from causerie.providers.local.pocketsphinx_stt import _DEFAULTS
from causerie.providers.local.pocketsphinx_worker import Recognizer, RecognizerOptions
from tests.speech import speak

RATE = 16000


def pcm(*parts: str | float) -> bytes:
    """Speech (a text) and silence (seconds), in order. Each text is synthesised once: espeak
    carries state from one synthesis to the next, so a second one would sound different."""
    said = {p: speak(p, RATE, voice="en-us+f2") for p in parts if isinstance(p, str)}
    chunks = [np.zeros(int(p * RATE)) if isinstance(p, float) else said[p] for p in parts]
    return np.concatenate(chunks).astype(np.int16).tobytes()


def final(decoder: Decoder, audio: bytes) -> tuple[str, int]:
    """The flushed utterance's text, and how many frames the decoder searched for it. One
    cepstral-mean settle (at 1.2 s, before any pause here): a second one falls where the
    held audio is fed, so its re-decode would differ between holding and not for that."""
    options = RecognizerOptions(RATE, 0.3, None, 0, 30.0, flushed=True, cmn_reseed_s=None)
    rec = Recognizer(decoder, options)
    events = [e for i in range(0, len(audio), 640) for e in rec.process([audio[i : i + 640]])]
    events += rec.process([None])
    texts = [e[2] for e in events if e[0] == "final"]
    assert len(texts) == 1, events
    return texts[0], decoder.n_frames()


def test_silence_before_a_late_flush_is_not_decoded() -> None:
    late_audio = pcm(0.5, "good morning", 6.0)
    on_time_audio = late_audio[: -int(5.0 * RATE) * 2]  # the same, with 1.0 s of silence after
    # A fresh decoder each: see the next test.
    on_time = final(Decoder(**_DEFAULTS), on_time_audio)
    late = final(Decoder(**_DEFAULTS), late_audio)
    assert on_time[0] and on_time[1] < 250  # the words, and 0.3 s of the silence after them
    assert late == on_time  # the same frames searched: 5 s more silence cost nothing


def test_speech_after_a_long_pause_is_decoded_with_what_was_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audio = pcm(0.5, "good morning", 1.5, "thank you", 0.35)
    # A fresh decoder each: one that decoded before carries its cepstral mean and the front
    # end's noise estimate over, and the second decode would differ for that alone.
    (text, frames) = final(Decoder(**_DEFAULTS), audio)
    monkeypatch.setattr(pocketsphinx_worker, "HOLD_AFTER_S", 1e9)
    (unheld_text, unheld_frames) = final(Decoder(**_DEFAULTS), audio)
    # Every frame decoded, the pause included (100 a second), as without holding. The texts
    # may differ in a word: the noise floor's phase follows the decode calls' boundaries.
    assert frames == unheld_frames > 300
    assert text.split()[-1] == unheld_text.split()[-1]  # the words after the pause
