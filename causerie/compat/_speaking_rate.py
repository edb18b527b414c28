"""livekit's speaking-rate estimate, vectorised (see ``livekit.vectorised_speaking_rate``).

Subclasses of classes in livekit's private ``voice.transcription._speaking_rate`` module; the
value is the same (tests/unit/test_compat.py compares them)."""

from __future__ import annotations

import numpy as np
from livekit.agents.voice.transcription._speaking_rate import (
    SpeakingRateDetector,
    SpeakingRateStream,
)


def spectral_flux(audio: np.ndarray, sample_rate: int) -> float:
    """The mean L1 change of the scaled magnitude spectrum between consecutive 25 ms Hann
    frames (50 % overlap), as ``SpeakingRateStream._spectral_flux`` computes it."""
    frame_length = int(sample_rate * 0.025)
    hop = frame_length // 2
    count = (len(audio) - frame_length) // hop + 1
    if frame_length < 2 or count < 2:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame_length)[::hop][:count]
    window = np.hanning(frame_length)
    mags = np.abs(np.fft.rfft(frames * window, axis=1)) / np.sqrt(np.sum(window**2))
    return float(np.abs(np.diff(mags, axis=0)).sum(axis=1).mean())


class VectorisedStream(SpeakingRateStream):
    def _spectral_flux(self, audio: np.ndarray, sample_rate: int) -> float:
        return spectral_flux(audio, sample_rate)


class VectorisedDetector(SpeakingRateDetector):
    def stream(self) -> SpeakingRateStream:
        return VectorisedStream(self, self._opts)
