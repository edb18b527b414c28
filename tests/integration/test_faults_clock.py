"""Fault matrix: the wall clock jumping mid-conversation, and a client whose frames stop
for a while. No latency in the turn records (or the ``turn_metrics`` events) is negative
or absurd: voice-to-voice is measured on the monotonic clock, a figure that a clock step
skewed is dropped (``None``), and a turn whose input had a gap gets no voice-to-voice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from causerie.store.records import LATENCIES, MAX_LATENCY_S, TurnRecord
from tests.e2e.harness import ServerThread, WsClient, serve_shared, speech_frames

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session", name="server")
def _server() -> Iterator[ServerThread]:
    yield from serve_shared()


def stored_turns(server: ServerThread, session_id: str) -> list[TurnRecord]:
    store = server.app.state.metrics.store  # on the server's loop
    server.call(lambda: store.flush(10))
    rec = server.call(lambda: store.get_session(session_id))
    assert rec is not None
    return list(rec.turns)


def assert_sane(turns: list[TurnRecord], events: list[dict]) -> None:  # type: ignore[type-arg]
    for t in turns:
        for name in LATENCIES:
            v = getattr(t, name)
            assert v is None or 0 <= v <= MAX_LATENCY_S, (t.index, name, v)
    for e in events:
        for k in ("voice_to_voice", "stt", "end_of_turn", "llm_ttft", "tts_ttfb", "lk_e2e_latency"):
            assert e.get(k) is None or 0 <= e[k] <= MAX_LATENCY_S, (e["turn"], k, e[k])


async def turn(c: WsClient, text: str, *, jump: float, offset: list[float]) -> dict:  # type: ignore[type-arg]
    seen = len(c.of("turn_metrics"))
    await c.stream(speech_frames(text, lead=0.3, tail=0.0))
    offset[0] += jump  # the wall clock steps between the end of speech and the reply
    await c.wait_for(
        lambda e: e["type"] == "turn_metrics" and len(c.of("turn_metrics")) > seen, within=30
    )
    return c.of("turn_metrics")[-1]


async def test_the_wall_clock_jumping(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        back = await turn(c, "what can you do", jump=-3600.0, offset=offset)
        ahead = await turn(c, "who are you", jump=+7200.0, offset=offset)
        # The transport's own figure survives both jumps: measured on the monotonic clock.
        assert back["voice_to_voice"] is not None and 0 < back["voice_to_voice"] < 30
        assert ahead["voice_to_voice"] is not None and 0 < ahead["voice_to_voice"] < 30
        session_id = server.manager.sessions()[0].session_id
    monkeypatch.undo()
    server.wait_idle()
    turns = stored_turns(server, session_id)
    assert len(turns) == 2 and all(t.agent_text for t in turns)
    assert_sane(turns, c.of("turn_metrics"))


async def test_a_client_whose_frames_stop_for_a_while(server: ServerThread) -> None:
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        frames = speech_frames("what can you do", lead=0.3, tail=0.0)
        await c.stream(frames)
        await asyncio.sleep(2.0)  # the gap under test: no frame at all for 2 s
        m = await c.wait_for(lambda e: e["type"] == "turn_metrics", within=30)
        assert m["voice_to_voice"] is None  # the client's silence is not the agent's latency
        # The next turn, without a gap, is measured again.
        seen = len(c.of("turn_metrics"))
        await c.stream(speech_frames("who are you", lead=0.5))
        await c.wait_for(
            lambda e: e["type"] == "turn_metrics" and len(c.of("turn_metrics")) > seen, within=30
        )
        nxt = c.of("turn_metrics")[-1]
        assert nxt["voice_to_voice"] is not None and nxt["voice_to_voice"] > 0
        session_id = server.manager.sessions()[0].session_id
    server.wait_idle()
    turns = stored_turns(server, session_id)
    assert [t.voice_to_voice is None for t in turns] == [True, False]
    assert_sane(turns, c.of("turn_metrics"))


def test_a_record_with_an_impossible_latency_keeps_the_rest() -> None:
    t = TurnRecord(session_id="s", index=1, started_at=0.0, voice_to_voice=-3599.2,
                   llm_ttft=float("nan"), tts_ttfb=7200.5, stt_final_delay=0.3)  # fmt: skip
    assert (t.voice_to_voice, t.llm_ttft, t.tts_ttfb, t.stt_final_delay) == (None, None, None, 0.3)
