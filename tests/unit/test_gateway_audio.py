"""The gateway's audio in (any container to 16 kHz PCM, bad files refused by name) and out
(streamed encoders), with real speech from espeak."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from causerie.gateway.audio_in import RATE, decode
from causerie.gateway.audio_out import RATE as OUT_RATE
from causerie.gateway.audio_out import SpeechEncoder
from causerie.gateway.errors import APIError
from causerie.gateway.transcript_formats import Segment, Transcript, to_srt, to_verbose, to_vtt
from tests.audio_files import encode
from tests.speech import speak


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    return speak("hello there, what can you do", 22050)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "webm"])
def test_every_container_decodes_to_16k_mono(voice: np.ndarray, ext: str) -> None:
    got = decode(io.BytesIO(encode(voice, 22050, ext)), max_seconds=60)
    want = len(voice) / 22050
    # Codecs pad a few ms (encoder delay, frame size).
    assert abs(got.duration - want) < 0.08, (ext, got.duration, want)
    assert got.samples.dtype == np.int16
    assert int(np.abs(got.samples).max()) > 3000


def _error(data: bytes, max_seconds: float = 60) -> APIError:
    with pytest.raises(APIError) as info:
        decode(io.BytesIO(data), max_seconds=max_seconds)
    assert info.value.status == 400 and info.value.param == "file"
    return info.value


def test_text_is_not_audio() -> None:
    err = _error(b"these are not the samples you are looking for\n" * 50)
    assert err.code == "invalid_file_format" and "wav" in err.message


def test_truncated_wav_is_refused(voice: np.ndarray) -> None:
    data = encode(voice, 22050, "wav")
    err = _error(data[: len(data) // 2])
    assert "truncated" in err.message


def test_wav_cut_inside_its_header_is_not_audio(voice: np.ndarray) -> None:
    assert _error(encode(voice, 22050, "wav")[:30]).code == "invalid_file_format"


@pytest.mark.parametrize("ext", ["wav", "webm"])
def test_too_long_is_refused_before_decoding_everything(voice: np.ndarray, ext: str) -> None:
    err = _error(encode(voice, 22050, ext), max_seconds=0.5)
    assert err.code == "audio_too_long" and "0.5 s" in err.message


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "opus", "flac"])
@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_speech_encoder_streams_each_format(voice: np.ndarray, fmt: str, speed: float) -> None:
    enc = SpeechEncoder(fmt, 22050, speed)  # type: ignore[arg-type]
    step = 2205  # 100 ms, as a TTS hands its audio over
    parts = [enc.push(voice[i : i + step]) for i in range(0, len(voice), step)]
    parts.append(enc.close())
    # Bytes leave before the end: the first half of the pushes already produced some.
    assert any(parts[: len(parts) // 2]), fmt
    data = b"".join(parts)
    want = len(voice) / 22050 / speed
    if fmt == "pcm":
        seconds = len(data) / 2 / OUT_RATE
    else:
        with av.open(io.BytesIO(data), mode="r") as c:
            seconds = sum(float(f.samples) / f.sample_rate for f in c.decode(audio=0))
    assert abs(seconds - want) < 0.1, (fmt, speed, seconds, want)


def test_subtitle_formats() -> None:
    t = Transcript(
        "hello there", "en", 3.0, [Segment(0.5, 1.25, "hello"), Segment(61.0, 62.5, "there")]
    )
    assert to_srt(t) == (
        "1\n00:00:00,500 --> 00:00:01,250\nhello\n\n2\n00:01:01,000 --> 00:01:02,500\nthere\n"
    )
    assert to_vtt(t).startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.250\nhello\n")
    verbose = to_verbose(t)
    assert verbose["duration"] == 3.0 and [s["text"] for s in verbose["segments"]] == [
        "hello",
        "there",
    ]
    assert RATE == 16000
