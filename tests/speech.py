"""Speech for tests, made by the real espeak engine (no fixtures downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from causerie.audio.wav import PCM, resample, write_wav
from causerie.providers.local.espeak_engine import get_engine


def speak(
    text: str, sample_rate: int = 16000, voice: str = "en-us", rate: int = 160, trim: bool = False
) -> np.ndarray:
    """espeak-ng's speech; ``trim``: its own leading and trailing silence cut off (|sample|
    over 200), so that a pause a test inserts is the only one."""
    eng = get_engine()
    pcm = resample(eng.synthesize_pcm(text, voice=voice, rate=rate), eng.sample_rate, sample_rate)
    if trim:
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 200)
        pcm = pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm
    return pcm


def conversation(
    utterances: list[str],
    sample_rate: int = 16000,
    gap: float = 3.0,
    lead: float = 0.5,
    voice: str = "en-us",
) -> np.ndarray:
    """Utterances separated by ``gap`` seconds of silence, with ``lead`` seconds before."""
    parts = [np.zeros(int(lead * sample_rate), dtype=np.int16)]
    for text in utterances:
        parts.append(speak(text, sample_rate, voice))
        parts.append(np.zeros(int(gap * sample_rate), dtype=np.int16))
    return np.concatenate(parts)


def write_speech_wav(
    path: Path, utterances: list[str], sample_rate: int = 16000, **kw: object
) -> Path:
    write_wav(path, PCM(conversation(utterances, sample_rate, **kw), sample_rate))  # type: ignore[arg-type]
    return path
