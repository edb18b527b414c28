"""A session as a downloadable document: JSON (lossless) or plain text (for reading).

Both are produced piece by piece, so the API can stream a long session without building it
in memory twice, and the CLI writes the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Literal

from ..store.records import ErrorRecord, SessionRecord, TurnRecord

ExportFormat = Literal["json", "txt"]
FORMATS: tuple[ExportFormat, ...] = ("json", "txt")
MEDIA_TYPES = {"json": "application/json", "txt": "text/plain; charset=utf-8"}
EXPORT_VERSION = 1


def export_session(
    session: SessionRecord, errors: Sequence[ErrorRecord], fmt: ExportFormat
) -> Iterator[str]:
    if fmt == "json":
        return _json(session, errors)
    if fmt == "txt":
        return _text(session, errors)
    raise ValueError(f"unknown export format {fmt!r}; expected one of: {', '.join(FORMATS)}")


def _dump(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _json(session: SessionRecord, errors: Sequence[ErrorRecord]) -> Iterator[str]:
    head = session.to_dict()
    head.pop("turns")
    head.pop("transcript")
    yield f'{{"format":"causerie.session","version":{EXPORT_VERSION},"session":{_dump(head)}'
    for key, rows in (
        ("transcript", [e.to_dict() for e in session.transcript]),
        ("turns", [t.to_dict() for t in session.turns]),
        ("errors", [e.to_dict() for e in errors]),
    ):
        yield f',"{key}":['
        for i, row in enumerate(rows):
            yield ("," if i else "") + _dump(row)
        yield "]"
    yield "}\n"


def _iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


TURN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("v2v", "voice_to_voice"),
    ("stt", "stt_final_delay"),
    ("eou", "end_of_utterance_delay"),
    ("llm", "llm_ttft"),
    ("tts", "tts_ttfb"),
    ("lk_e2e", "lk_e2e_latency"),
)


def turn_row(t: TurnRecord) -> list[str]:
    flags = ("interrupted " if t.interrupted else "") + ("error" if t.error else "")
    return [
        str(t.index),
        *(_ms(getattr(t, f)) for _, f in TURN_COLUMNS),
        ",".join(c.name for c in t.tool_calls) or "-",
        flags.strip() or "-",
    ]


def _text(session: SessionRecord, errors: Sequence[ErrorRecord]) -> Iterator[str]:
    s = session
    yield f"Causerie session {s.id}\n"
    dur = "-" if s.duration is None else f"{s.duration:.1f} s"
    yield (
        f"agent: {s.agent_name}   transport: {s.transport}   outcome: {s.outcome}\n"
        f"started: {_iso(s.started_at)}   ended: {_iso(s.ended_at)}   duration: {dur}\n"
    )
    if s.providers:
        yield "providers: " + ", ".join(f"{k}={v}" for k, v in sorted(s.providers.items())) + "\n"
    if s.error:
        yield f"error: {s.error}\n"
    if s.annotations:
        yield f"annotations: {_dump(s.annotations)}\n"
    yield "\nTranscript\n"
    if not s.transcript:
        yield "  (none kept)\n"
    for e in s.transcript:
        yield f"[{_clock(e.at - s.started_at)}] {e.role}: {e.text}\n"
    yield "\nTurns (milliseconds)\n"
    header = ["#", *(name for name, _ in TURN_COLUMNS), "tools", "flags"]
    rows = [header, *(turn_row(t) for t in s.turns)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        yield "  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + "\n"
    if errors:
        yield "\nErrors\n"
        for err in errors:
            yield f"[{_clock(err.at - s.started_at)}] {err.component}: {err.message}\n"
