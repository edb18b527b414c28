"""Uploaded audio (WAV, FLAC, OGG/Opus, MP3, WebM, anything FFmpeg reads) to 16 kHz mono
int16 with PyAV. Blocking: call it in a thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import av
import numpy as np

from .errors import APIError, bad_request

RATE = 16000
SUPPORTED = "flac, mp3, mp4, m4a, ogg, opus, wav, webm"
# A container whose header promises this much more audio than could be decoded is cut off.
_TRUNCATION_SLACK = 0.1


@dataclass(frozen=True)
class Decoded:
    samples: np.ndarray
    """int16 mono at :data:`RATE`."""
    declared: float | None
    """Duration the container's header declares, when it does (not live WebM)."""

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE


def _wav_declared(file: BinaryIO) -> float | None:
    """FFmpeg trusts the file size over a WAV header's data size, so a WAV cut short decodes
    without complaint: read the header ourselves. None for streamed WAVs (size unknown)."""
    pos = file.tell()
    try:
        file.seek(0)
        head = file.read(4096)
    finally:
        file.seek(pos)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    i, byte_rate = 12, 0
    while i + 8 <= len(head):
        tag, size = head[i : i + 4], int.from_bytes(head[i + 4 : i + 8], "little")
        if tag == b"fmt " and i + 20 <= len(head):
            byte_rate = int.from_bytes(head[i + 16 : i + 20], "little")
        if tag == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        i += 8 + size + (size & 1)
    return None


def _declared(
    container: av.container.InputContainer, stream: av.AudioStream, wav: float | None
) -> float | None:
    if container.format.name == "wav":
        return wav
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def decode(file: BinaryIO, max_seconds: float) -> Decoded:
    """Raise a 400 :class:`APIError` naming the problem: not audio, truncated, too long."""
    wav = _wav_declared(file)
    try:
        container = av.open(file, mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        raise bad_request(
            f"file: not a readable audio file; supported formats: {SUPPORTED}",
            param="file",
            code="invalid_file_format",
        ) from None
    with container:
        if not container.streams.audio:
            raise bad_request("file: has no audio stream", param="file", code="invalid_file_format")
        stream = container.streams.audio[0]
        declared = _declared(container, stream, wav)
        if declared is not None and declared > max_seconds:
            raise _too_long(declared, max_seconds)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        chunks: list[np.ndarray] = []
        total = 0
        limit = int(max_seconds * RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    total += out.samples
                if total > limit:
                    raise _too_long(total / RATE, max_seconds)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as e:
            raise bad_request(
                f"file: the audio is corrupt or truncated ({e.strerror or e})",
                param="file",
                code="invalid_file_format",
            ) from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    got = len(samples) / RATE
    if declared is not None and got < declared * (1 - _TRUNCATION_SLACK) - 0.05:
        raise bad_request(
            f"file: truncated: its header declares {declared:.2f} s of audio, "
            f"only {got:.2f} s is there",
            param="file",
            code="invalid_file_format",
        )
    if not len(samples):
        raise bad_request("file: contains no audio samples", param="file", code="empty_audio")
    return Decoded(samples.astype(np.int16, copy=False), declared)


def _too_long(seconds: float, limit: float) -> APIError:
    return bad_request(
        f"file: audio is {seconds:.1f} s long; the maximum is {limit:g} s",
        param="file",
        code="audio_too_long",
    )
