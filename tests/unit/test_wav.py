"""WAV input: every common format converted, anything else refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from causerie.audio.wav import read_wav, speech_segments
from causerie.errors import AudioFileError
from tests.speech import speak


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    return speak("hello there", 16000)


@pytest.mark.parametrize(
    ("rate", "channels", "subtype"),
    [
        (16000, 1, "PCM_16"),
        (44100, 2, "PCM_16"),
        (8000, 1, "PCM_U8"),
        (48000, 2, "PCM_24"),
        (22050, 1, "FLOAT"),
        (32000, 1, "PCM_32"),
        (24000, 2, "DOUBLE"),
    ],
)
def test_common_formats_are_converted(
    tmp_path: Path, voice: np.ndarray, rate: int, channels: int, subtype: str
) -> None:
    from causerie.audio.wav import resample

    data = resample(voice, 16000, rate).astype(np.float32) / 32768.0
    if channels == 2:
        data = np.stack([data, data], axis=1)
    path = tmp_path / "in.wav"
    sf.write(str(path), data, rate, subtype=subtype)
    pcm = read_wav(path, 16000)
    assert pcm.sample_rate == 16000 and pcm.samples.dtype == np.int16
    assert abs(pcm.duration - len(voice) / 16000) < 0.05
    assert np.abs(pcm.samples).max() > 3000  # still speech, not silence or noise


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"this is not audio at all, just text" * 10, "not a readable audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a readable audio file"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=needle):
        read_wav(path, 16000)


def test_truncated_wav(tmp_path: Path, voice: np.ndarray) -> None:
    path = tmp_path / "t.wav"
    sf.write(str(path), voice, 16000, subtype="PCM_16")
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:44])  # header claims audio that is not there
    with pytest.raises(AudioFileError):
        read_wav(cut, 16000)
    # A partly truncated file is read up to where the data stops.
    part = tmp_path / "part.wav"
    part.write_bytes(data[: len(data) // 2])
    assert read_wav(part, 16000).duration > 0.1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="no such file"):
        read_wav(tmp_path / "nope.wav")


def test_other_audio_format_is_named(tmp_path: Path, voice: np.ndarray) -> None:
    path = tmp_path / "x.wav"
    sf.write(str(path), voice, 16000, format="FLAC")
    with pytest.raises(AudioFileError, match="FLAC, not WAV"):
        read_wav(path)


def test_segments_find_utterances(voice: np.ndarray) -> None:
    gap = np.zeros(16000 * 2, dtype=np.int16)
    segs = speech_segments(np.concatenate([gap, voice, gap, voice, gap]), 16000)
    assert len(segs) == 2 and segs[0][0] == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(("src", "dst"), [(22050, 16000), (16000, 48000), (44100, 16000)])
def test_resample_keeps_time_and_gives_the_same_output_every_time(src: int, dst: int) -> None:
    """Test speech and the benches' corpora are resampled: a random dither (soxr's) made
    them differ from one run to the next."""
    from causerie.audio.wav import resample

    t = np.arange(int(src * 1.5)) / src
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    out = resample(tone, src, dst)
    assert out.dtype == np.int16 and abs(len(out) - 1.5 * dst) <= 1
    assert np.array_equal(out, resample(tone, src, dst))
    # Still the same tone, in phase: no delay added.
    ref = (8000 * np.sin(2 * np.pi * 440 * np.arange(len(out)) / dst)).astype(np.int16)
    middle = slice(len(out) // 4, 3 * len(out) // 4)
    assert np.abs(out[middle].astype(int) - ref[middle]).max() < 200
