"""Fault matrix: the server SIGTERMed (or killed) mid-conversation.

SIGTERM: the client gets a close with a reason (1001) and a fatal ``server_shutdown``
event; the turns already finished are in the store; a restarted server serves at once.
SIGKILL: the session left "active" is marked ended when the next server starts.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from causerie.metrics.orphans import CRASHED
from causerie.store import open_store
from tests.e2e.harness import RtcClient, WsClient, speech_frames
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.slow


async def one_turn(c: WsClient, text: str = "what can you do") -> dict:  # type: ignore[type-arg]
    seen = len(c.of("turn_metrics"))
    await c.stream(speech_frames(text, lead=0.3))
    await c.wait_for(lambda e: e["type"] == "turn_metrics" and len(c.of("turn_metrics")) > seen,
                     within=60)  # fmt: skip
    return c.of("turn_metrics")[-1]


async def sessions(store: Path) -> list:  # type: ignore[type-arg]
    async with open_store(f"sqlite:///{store}") as s:
        page = await s.list_sessions(limit=50)
        return [await s.get_session(x.id) for x in page.items]


def integrity(store: Path) -> str:
    with sqlite3.connect(store) as c:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])


async def test_sigterm_closes_with_a_reason_and_keeps_finished_turns(tmp_path: Path) -> None:
    store = tmp_path / "c.sqlite3"
    server = await asyncio.to_thread(ServeProcess(tmp_path, store).wait_ready)
    try:
        c = WsClient(server.ws_url)
        await c.__aenter__()
        await c.wait_for(lambda e: e["type"] == "ready")
        await one_turn(c)
        rtc = RtcClient(f"http://127.0.0.1:{server.port}")
        await rtc.__aenter__()
        await rtc.wait_for(lambda e: e["type"] == "ready", within=30)
        # Mid-conversation: the next question is being spoken.
        frames = speech_frames("who are you", lead=0.3)
        await c.stream(frames[: len(frames) // 2])
        server.signal(signal.SIGTERM)
        await asyncio.wait_for(c._reader, 60)
        assert c.close_code == 1001
        assert "shutting down" in c.close_reason
        assert [e["code"] for e in c.of("error")] == ["server_shutdown"]
        # The WebRTC client hears it on its data channel.
        await rtc.wait_for(lambda e: e["type"] == "error", within=30)
        assert [e["code"] for e in rtc.of("error")] == ["server_shutdown"]
        await rtc.close()
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert await asyncio.to_thread(server.proc.wait, 60) in (0, -signal.SIGTERM)
        assert not [line for line in server.log if "Traceback" in line], server.log
    finally:
        server.stop()
    recs = await sessions(store)
    assert [r.transport for r in recs] == ["webrtc", "websocket"]  # newest first
    assert all(r.outcome != "active" and r.ended_at is not None for r in recs)
    rec = recs[1]
    assert len(rec.turns) >= 1 and rec.turns[0].agent_text
    assert integrity(store) == "ok"
    # A restarted server on the same store serves at once.
    again = await asyncio.to_thread(ServeProcess(tmp_path, store).wait_ready)
    try:
        async with WsClient(again.ws_url) as c2:
            await c2.wait_for(lambda e: e["type"] == "ready")
            m = await one_turn(c2)
            assert m["voice_to_voice"] is None or m["voice_to_voice"] > 0
    finally:
        again.signal(signal.SIGTERM)
        again.proc.wait(60)
    assert len(await sessions(store)) == 3


async def test_a_crashed_servers_active_session_is_ended_at_the_next_start(
    tmp_path: Path,
) -> None:
    store = tmp_path / "c.sqlite3"
    server = await asyncio.to_thread(ServeProcess(tmp_path, store).wait_ready)
    try:
        c = WsClient(server.ws_url)
        await c.__aenter__()
        await c.wait_for(lambda e: e["type"] == "ready")
        await one_turn(c)
        server.signal(signal.SIGKILL)
        await asyncio.wait_for(c._reader, 60)
    finally:
        server.stop()
    (rec,) = await sessions(store)
    assert rec.outcome == "active" and len(rec.turns) == 1  # nothing recorded is lost
    again = await asyncio.to_thread(ServeProcess(tmp_path, store).wait_ready)
    again.signal(signal.SIGTERM)
    again.proc.wait(60)
    (rec,) = await sessions(store)
    assert rec.outcome == "error" and rec.error == CRASHED and rec.ended_at is not None
    assert len(rec.turns) == 1
    assert integrity(store) == "ok"
