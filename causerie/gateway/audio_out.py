"""Synthesized audio to the bytes of the requested ``response_format``, chunk by chunk, so the
first bytes leave while the rest is still being made. PyAV does resampling, tempo and codecs."""

from __future__ import annotations

import io
import struct
from typing import Literal

import av
import numpy as np

SpeechFormat = Literal["wav", "pcm", "mp3", "opus", "flac"]
RATE = 24000
"""OpenAI's speech output rate: clients read ``pcm`` as 24 kHz s16le mono."""

MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
}
# format -> (container, codec, container options)
_CODECS: dict[str, tuple[str, str, dict[str, str]]] = {
    "mp3": ("mp3", "libmp3lame", {}),
    # Small Ogg pages: the default (1 s) would hold the first audio back a second.
    "opus": ("ogg", "libopus", {"page_duration": "20000"}),
    "flac": ("flac", "flac", {}),
}


def _wav_header() -> bytes:
    # Sizes unknown while streaming: 0xFFFFFFFF, as FFmpeg and OpenAI write them.
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    return b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", 16) + fmt + b"data\xff\xff\xff\xff"


def _tempo_factors(speed: float) -> list[float]:
    """atempo takes 0.5..2.0 per instance: chain them for the rest of OpenAI's 0.25..4."""
    out: list[float] = []
    while speed > 2.0:
        out.append(2.0)
        speed /= 2.0
    while speed < 0.5:
        out.append(0.5)
        speed /= 0.5
    return [*out, speed]


class SpeechEncoder:
    """Feed int16 mono PCM at ``in_rate``; get encoded bytes back as soon as there are any."""

    def __init__(self, fmt: SpeechFormat, in_rate: int, speed: float = 1.0) -> None:
        self.fmt = fmt
        self.in_rate = in_rate
        self.samples_out = 0
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._graph: av.filter.Graph | None = None
        if abs(speed - 1.0) > 1e-3:
            graph = av.filter.Graph()
            nodes = [graph.add_abuffer(format="s16", sample_rate=in_rate, layout="mono")]
            nodes += [graph.add("atempo", f"{f:.6f}") for f in _tempo_factors(speed)]
            nodes.append(graph.add("abuffersink"))
            graph.link_nodes(*nodes).configure()
            self._graph = graph
        self._buf = io.BytesIO()
        self._sent = 0
        self._header = fmt == "wav"
        self._out: av.container.OutputContainer | None = None
        self._stream: av.AudioStream | None = None
        if fmt in _CODECS:
            container, codec, options = _CODECS[fmt]
            self._out = av.open(self._buf, mode="w", format=container, options=options)
            self._stream = self._out.add_stream(codec, rate=RATE)  # type: ignore[assignment]
            self._stream.layout = "mono"  # type: ignore[union-attr]

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]

    def push(self, pcm: np.ndarray) -> bytes:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.in_rate
        return self._encode(self._tempo(frame))

    def close(self) -> bytes:
        data = self._encode(self._tempo(None), flush=True)
        if self._out is not None:
            self._out.close()
            data += self._take()
        return data

    def _tempo(self, frame: av.AudioFrame | None) -> list[av.AudioFrame | None]:
        if self._graph is None:
            return [frame]
        self._graph.push(frame)
        out: list[av.AudioFrame | None] = []
        while True:
            try:
                out.append(self._graph.pull())  # type: ignore[arg-type]
            except (av.BlockingIOError, av.EOFError):
                break
        return out if frame is not None else [*out, None]

    def _encode(self, frames: list[av.AudioFrame | None], flush: bool = False) -> bytes:
        pcm: list[bytes] = []
        for frame in frames:
            for out in self._resampler.resample(frame):
                self.samples_out += out.samples
                if self._stream is None:
                    pcm.append(out.to_ndarray().tobytes())
                    continue
                for packet in self._stream.encode(out):
                    self._out.mux(packet)  # type: ignore[union-attr]
        if flush and self._stream is not None:
            for packet in self._stream.encode(None):
                self._out.mux(packet)  # type: ignore[union-attr]
        if self._stream is not None:
            return self._take()
        head = _wav_header() if self._header else b""
        self._header = False
        return head + b"".join(pcm)

    def _take(self) -> bytes:
        # Muxers may seek back to patch a header at the end (FLAC): what was sent stays sent.
        data = self._buf.getvalue()[self._sent :]
        self._sent += len(data)
        return data

    @property
    def seconds(self) -> float:
        return self.samples_out / RATE
