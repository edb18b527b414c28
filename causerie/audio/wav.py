"""Reading, converting and writing WAV files.

Any common WAV (8/16/24/32-bit integer, float, mono or stereo, any rate) is read through
libsndfile and converted to 16-bit mono at the rate asked for. Anything else is refused with
a message that says what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioFileError

MAX_SECONDS = 30 * 60


@dataclass(frozen=True)
class PCM:
    """16-bit mono PCM."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """int16 mono -> int16 mono at ``dst_rate`` (PyAV's swresample). The same input gives the
    same output: livekit's resampler (soxr) dithers at random, so files, test speech and the
    benches' corpora would differ from one run to the next."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples.astype(np.int16, copy=False)
    import av

    rs = av.AudioResampler(format="s16", layout="mono", rate=dst_rate)
    out: list[np.ndarray] = []
    step = src_rate  # one second at a time keeps memory flat for long files
    for i in range(0, len(samples), step):
        chunk = np.ascontiguousarray(samples[i : i + step], dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
        frame.sample_rate = src_rate
        out.extend(f.to_ndarray().reshape(-1) for f in rs.resample(frame))
    out.extend(f.to_ndarray().reshape(-1) for f in rs.resample(None))
    return np.concatenate(out).astype(np.int16, copy=False) if out else np.zeros(0, np.int16)


def read_wav(path: str | Path, sample_rate: int | None = None) -> PCM:
    """Read ``path`` as 16-bit mono, resampled to ``sample_rate`` when given."""
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{p}: the file is empty")
    try:
        info = sf.info(str(p))
    except Exception as e:
        raise AudioFileError(f"{p}: not a readable audio file ({_short(e)}); expected a WAV") from e
    if info.format not in ("WAV", "WAVEX", "RF64"):
        raise AudioFileError(
            f"{p}: is {info.format}, not WAV; convert it first (e.g. with sox or ffmpeg)"
        )
    if info.frames <= 0:
        raise AudioFileError(f"{p}: the WAV holds no audio")
    if info.duration > MAX_SECONDS:
        raise AudioFileError(f"{p}: {info.duration:.0f} s is longer than the {MAX_SECONDS} s limit")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioFileError(f"{p}: the WAV is truncated or corrupt ({_short(e)})") from e
    if data.shape[0] == 0:
        raise AudioFileError(f"{p}: the WAV holds no audio (truncated?)")
    # A float WAV may hold NaN or infinities (a corrupt file): silence and full scale.
    mono = np.nan_to_num(data, nan=0.0, posinf=1.0, neginf=-1.0).mean(axis=1)
    pcm = (np.clip(mono, -1.0, 1.0) * 32767.0).astype(np.int16)
    if sample_rate is not None and rate != sample_rate:
        pcm = resample(pcm, int(rate), sample_rate)
        rate = sample_rate
    return PCM(pcm, int(rate))


def write_wav(path: str | Path, pcm: PCM) -> None:
    import soundfile as sf

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), pcm.samples.astype(np.int16), pcm.sample_rate, subtype="PCM_16")


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__


# --- silence / speech segmentation, used to measure voice-to-voice latency from audio ---

SILENCE_DBFS = -45.0


def frame_levels(samples: np.ndarray, sample_rate: int, frame_ms: int = 10) -> np.ndarray:
    """RMS level in dBFS per ``frame_ms`` frame."""
    n = max(1, sample_rate * frame_ms // 1000)
    usable = len(samples) // n * n
    if usable == 0:
        return np.zeros(0)
    frames = samples[:usable].astype(np.float32).reshape(-1, n) / 32768.0
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    return 20 * np.log10(rms)


def speech_segments(
    samples: np.ndarray,
    sample_rate: int,
    *,
    threshold_dbfs: float = SILENCE_DBFS,
    min_gap: float = 0.6,
    min_speech: float = 0.15,
) -> list[tuple[float, float]]:
    """(start, end) seconds of each utterance: non-silent runs, with gaps shorter than
    ``min_gap`` merged (pauses inside a sentence)."""
    levels = frame_levels(samples, sample_rate)
    loud = levels > threshold_dbfs
    segs: list[tuple[float, float]] = []
    start: int | None = None
    for i, on in enumerate(loud):
        if on and start is None:
            start = i
        elif not on and start is not None:
            segs.append((start / 100, i / 100))
            start = None
    if start is not None:
        segs.append((start / 100, len(loud) / 100))
    merged: list[tuple[float, float]] = []
    for s, e in segs:
        if merged and s - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s, e) for s, e in merged if e - s >= min_speech]


def first_sound(samples: np.ndarray, threshold: int = 300) -> int | None:
    """Index of the first sample whose magnitude passes ``threshold`` (~-40 dBFS)."""
    idx = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return int(idx[0]) if len(idx) else None
