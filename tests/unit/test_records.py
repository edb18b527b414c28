"""Records: JSON round trips, versioning, percentiles; observers: isolation of failures."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from causerie.store.observers import Observers
from causerie.store.records import (
    RECORD_VERSION,
    TURN_METRICS,
    ErrorRecord,
    SessionEnd,
    SessionRecord,
    ToolCall,
    TranscriptEntry,
    TurnRecord,
    percentiles,
    turn_percentiles,
)


def full_turn() -> TurnRecord:
    return TurnRecord(
        session_id="s1",
        index=3,
        started_at=1.5,
        ended_at=4.0,
        user_text="hé, ça va ?",
        agent_text="Oui.",
        stt_duration=0.4,
        stt_final_delay=0.1,
        end_of_utterance_delay=0.3,
        llm_ttft=0.05,
        llm_duration=0.2,
        llm_prompt_tokens=100,
        llm_completion_tokens=5,
        tts_ttfb=0.01,
        tts_duration=0.8,
        tool_calls=[
            ToolCall("lookup", '{"q": "x"}', 0.02),
            ToolCall("pay", "{}", None, False, "no"),
        ],
        interrupted=True,
        voice_to_voice=0.7,
        lk_e2e_latency=0.6,
        error=None,
    )


def test_turn_round_trip_through_json() -> None:
    t = full_turn()
    d = t.to_dict()
    assert d["v"] == RECORD_VERSION
    assert json.loads(json.dumps(d)) == d  # JSON-safe as it is
    assert TurnRecord.from_dict(d) == t
    assert TurnRecord.from_json(t.to_json()) == t


def test_every_latency_field_is_optional() -> None:
    t = TurnRecord("s1", 0, 1.0)
    assert all(getattr(t, m) is None for m in TURN_METRICS)
    assert t.tool_calls == [] and t.interrupted is False


def test_session_round_trip_and_duration() -> None:
    s = SessionRecord(
        id="s1",
        started_at=10.0,
        ended_at=70.5,
        transport="webrtc",
        agent_name="Causerie",
        providers={"stt": "deepgram/nova-3"},
        outcome="completed",
        transcript=[TranscriptEntry("user", "hi", 11.0)],
        annotations={"sentiment": {"label": "positive"}},
        turns=[full_turn()],
        turn_count=1,
    )
    assert s.duration == 60.5  # derived
    assert SessionRecord.from_json(s.to_json()) == s
    assert SessionRecord("s2", 1.0, "cli", "A").duration is None


def test_from_dict_ignores_fields_it_does_not_know() -> None:
    # A newer worker may write fields an older reader has never heard of.
    d = {**full_turn().to_dict(), "v": RECORD_VERSION + 1, "gpu_seconds": 0.3}
    d["tool_calls"][0]["retries"] = 2
    t = TurnRecord.from_dict(d)
    assert t.voice_to_voice == 0.7 and t.tool_calls[0].name == "lookup"
    e = ErrorRecord.from_dict({"component": "llm", "message": "x", "at": 1.0, "uid": "abc"})
    assert e == ErrorRecord("llm", "x", 1.0)
    assert ErrorRecord.from_dict(e.to_dict()) == e


def test_percentiles_match_numpy() -> None:
    rng = np.random.default_rng(7)
    values = list(rng.gamma(2.0, 0.2, size=501))
    p = percentiles([*values, None, None])
    assert p["count"] == 501
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        assert p[key] == pytest.approx(float(np.percentile(values, q)))  # type: ignore[literal-required]


def test_percentiles_edge_cases() -> None:
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None, "count": 0}
    assert percentiles([None]) == {"p50": None, "p90": None, "p99": None, "count": 0}
    assert percentiles([0.25]) == {"p50": 0.25, "p90": 0.25, "p99": 0.25, "count": 1}
    turns = [TurnRecord("s", i, 0.0, llm_ttft=float(i)) for i in range(11)]
    assert turn_percentiles(turns, "llm_ttft")["p90"] == pytest.approx(9.0)
    with pytest.raises(ValueError, match="unknown turn metric 'user_text'"):
        turn_percentiles(turns, "user_text")


def test_observers_isolate_a_failing_one(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[object] = []

    def broken(record: object) -> None:
        raise RuntimeError("bug in a dashboard feed")

    observers = Observers(broken, seen.append)
    end = SessionEnd("s1", 2.0, "completed")
    with caplog.at_level(logging.ERROR, logger="causerie.store.observers"):
        observers.notify(end)
    assert seen == [end]
    assert observers.errors == 1
    assert "SessionEnd" in caplog.text and "bug in a dashboard feed" in caplog.text


def test_observers_add_and_remove() -> None:
    seen: list[str] = []
    observers = Observers()

    def first(record: object) -> None:
        seen.append("first")
        remove_second()  # changing the list while notifying is allowed

    observers.add(first)
    remove_second = observers.add(lambda r: seen.append("second"))
    assert len(observers) == 2
    t = TurnRecord("s", 0, 0.0)
    observers.notify(t)  # second is still called: the list is read once per notify
    observers.notify(t)
    assert seen == ["first", "second", "first"]
    observers.remove(first)
    observers.remove(first)  # removing twice is harmless
    observers.notify(t)
    assert len(observers) == 0 and seen == ["first", "second", "first"]
