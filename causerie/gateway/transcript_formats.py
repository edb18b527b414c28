"""A transcript in each of OpenAI's ``response_format``s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

TranscriptFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    confidence: float = 0.0


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration: float
    segments: list[Segment]


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(t: Transcript) -> str:
    blocks = [
        f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n"
        for i, s in enumerate((s for s in t.segments if s.text), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(t: Transcript) -> str:
    blocks = [
        f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in t.segments if s.text
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_verbose(t: Transcript) -> dict[str, Any]:
    return {
        "task": "transcribe",
        "language": t.language,
        "duration": round(t.duration, 3),
        "text": t.text,
        "segments": [
            {
                "id": i,
                "seek": 0,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            }
            for i, s in enumerate(t.segments)
        ],
        "usage": {"type": "duration", "seconds": round(t.duration, 3)},
    }


def to_json(t: Transcript) -> dict[str, Any]:
    return {"text": t.text, "usage": {"type": "duration", "seconds": round(t.duration, 3)}}
