"""Reading the store for people: time windows, percentile summaries, series over time and
the per-provider breakdown. Shared by the HTTP API and ``causerie metrics``; pure functions
over records, plus :func:`load_window` that reads a bounded number of turns."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.base import MAX_PAGE
from ..store.interfaces import RecordReader
from ..store.records import TURN_METRICS, Percentiles, SessionRecord, TurnRecord, percentiles

MAX_WINDOW = 90 * 86400.0
MAX_TURNS = 100_000
"""Turns read for one summary; beyond it the answer says ``truncated``."""
MAX_POINTS = 1000
LATENCY_METRICS: tuple[str, ...] = tuple(m for m in TURN_METRICS if not m.endswith("_tokens"))
"""The per-turn metrics in seconds (token counts left out)."""

STAGE_METRICS: dict[str, tuple[str, ...]] = {
    "stt": ("stt_final_delay", "stt_duration"),
    "vad": ("end_of_utterance_delay",),
    "llm": ("llm_ttft", "llm_duration"),
    "tts": ("tts_ttfb", "tts_duration"),
    "pipeline": ("voice_to_voice", "lk_e2e_latency"),
}
"""Which provider a metric is broken down by ("pipeline": stt+llm+tts together)."""

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


class QueryError(ValueError):
    """A malformed query parameter; the message names it and says what is expected."""


def parse_duration(name: str, raw: str, *, maximum: float = MAX_WINDOW) -> float:
    """'90s', '15m', '1h', '7d', '2w' or plain seconds -> seconds (> 0, <= ``maximum``)."""
    m = _DURATION.match(raw)
    if m is None:
        raise QueryError(f"{name}: expected a duration like 90s, 15m, 1h or 7d; got {raw!r}")
    seconds = float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]
    if not 0 < seconds <= maximum:
        raise QueryError(
            f"{name}: must be more than 0 and at most {maximum / 86400:g} days; got {raw!r}"
        )
    return seconds


def parse_time(name: str, raw: str) -> float:
    """Epoch seconds, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(
                f"{name}: expected epoch seconds or an ISO 8601 time such as "
                f"2025-01-31T12:00:00Z; got {raw!r}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    if not math.isfinite(value) or value < 0:
        raise QueryError(f"{name}: expected epoch seconds >= 0; got {raw!r}")
    return value


def parse_int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}: expected a whole number; got {raw!r}") from None
    if not lo <= value <= hi:
        raise QueryError(f"{name}: must be between {lo} and {hi}; got {value}")
    return value


def parse_choice(name: str, raw: str, choices: Sequence[str]) -> str:
    if raw not in choices:
        raise QueryError(f"{name}: expected one of {', '.join(choices)}; got {raw!r}")
    return raw


@dataclass(slots=True)
class Window:
    since: float
    until: float
    turns: list[TurnRecord]
    truncated: bool

    @property
    def seconds(self) -> float:
        return self.until - self.since


async def load_window(store: RecordReader, seconds: float, *, now: float | None = None) -> Window:
    until = time.time() if now is None else now
    since = until - seconds
    turns = await store.turns_between(since, until, limit=MAX_TURNS + 1)
    return Window(since, until, turns[:MAX_TURNS], len(turns) > MAX_TURNS)


def summarize(
    turns: Sequence[TurnRecord], metrics: Iterable[str] = LATENCY_METRICS
) -> dict[str, Percentiles]:
    return {m: percentiles(getattr(t, m) for t in turns) for m in metrics}


def series(
    turns: Sequence[TurnRecord], metric: str, since: float, until: float, step: float
) -> list[dict[str, Any]]:
    """Percentiles of ``metric`` per ``step``-second bucket, placed by turn start; buckets
    with no value are left out."""
    buckets: dict[int, list[float]] = defaultdict(list)
    for t in turns:
        value = getattr(t, metric)
        if value is not None and since <= t.started_at < until:
            buckets[int((t.started_at - since) // step)].append(value)
    return [{"t": since + i * step, **percentiles(vals)} for i, vals in sorted(buckets.items())]


async def sessions_by_id(
    store: RecordReader, ids: Iterable[str], since: float
) -> dict[str, SessionRecord]:
    """Summaries of the sessions ``ids`` (those that started in the window come from one
    listing; older ones that had turns in it are read one by one, a bounded number)."""
    wanted = set(ids)
    found: dict[str, SessionRecord] = {}
    offset = 0
    while wanted - found.keys():
        page = await store.list_sessions(since=since, limit=MAX_PAGE, offset=offset)
        found.update({s.id: s for s in page.items if s.id in wanted})
        if page.next_offset is None or offset >= 20 * MAX_PAGE:
            break
        offset = page.next_offset
    for sid in list(wanted - found.keys())[:200]:
        s = await store.get_session(sid)
        if s is not None:
            found[sid] = s
    return found


def by_provider(
    turns: Sequence[TurnRecord], sessions: Mapping[str, SessionRecord]
) -> dict[str, dict[str, dict[str, Percentiles]]]:
    """``{stage: {provider: {metric: percentiles}}}``, e.g.
    ``{"llm": {"openai/gpt-4o-mini": {"llm_ttft": {...}}}}``."""
    groups: dict[tuple[str, str], list[TurnRecord]] = defaultdict(list)
    for t in turns:
        s = sessions.get(t.session_id)
        # Who served the turn (a fallback, say) over the session's configured provider.
        p = {**(s.providers if s else {}), **t.providers}
        for stage in STAGE_METRICS:
            if stage == "pipeline":
                name = "+".join(p.get(k, "none") for k in ("stt", "llm", "tts"))
            else:
                name = p.get(stage, "none")
            groups[(stage, name)].append(t)
    out: dict[str, dict[str, dict[str, Percentiles]]] = defaultdict(dict)
    for (stage, name), group in sorted(groups.items()):
        stats = {m: percentiles(getattr(t, m) for t in group) for m in STAGE_METRICS[stage]}
        if any(v["count"] for v in stats.values()):
            out[stage][name] = stats
    return dict(out)


def failovers(turns: Iterable[TurnRecord]) -> dict[str, dict[str, int]]:
    """``{stage: {provider: turns}}``: turns a fallback chain's later provider served,
    under that provider, e.g. ``{"llm": {"scripted": 3}}``."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in turns:
        for stage in t.failovers:
            out[stage][t.providers.get(stage, "unknown")] += 1
    return {stage: dict(counts) for stage, counts in sorted(out.items())}
