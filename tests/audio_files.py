"""Speech encoded in every container the gateway accepts, made here with PyAV."""

from __future__ import annotations

import io

import av
import numpy as np
import soundfile as sf

# extension -> (container, codec)
CONTAINERS = {
    "flac": ("flac", "flac"),
    "ogg": ("ogg", "libopus"),
    "mp3": ("mp3", "libmp3lame"),
    "webm": ("webm", "libopus"),
}


def encode(samples: np.ndarray, rate: int, ext: str) -> bytes:
    """int16 mono ``samples`` as a file of type ``ext`` (wav, flac, ogg, mp3, webm)."""
    if ext == "wav":
        buf = io.BytesIO()
        sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    container, codec = CONTAINERS[ext]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        out_rate = 48000 if codec == "libopus" else rate
        stream = out.add_stream(codec, rate=out_rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
