"""Fault matrix: an STT worker process killed mid-utterance (SIGKILL, by its PID).

That utterance is lost; the session goes on with a fresh worker; the fault is counted in
``/metrics`` (``causerie_errors_total{component="stt"}``) and nothing recorded is lost."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.harness import ServerThread, WsClient, serve_shared, speech_frames
from tests.waiting import until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session", name="server")
def _server() -> Iterator[ServerThread]:
    yield from serve_shared()


def children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:  # that process ended meanwhile
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.update(int(x) for x in f.read().split())
        except FileNotFoundError:  # that thread ended meanwhile
            continue
    return out


def descendants(pid: int) -> set[int]:
    """Children and theirs: workers are forked by the pocketsphinx fork server, a child."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        found = children(todo.pop()) - out
        out |= found
        todo.extend(found)
    return out


def stt_errors(server: ServerThread) -> float:
    text = httpx.get(server.url + "/metrics").text
    found = re.findall(r'^causerie_errors_total\{[^}]*component="stt"[^}]*\} (\S+)$', text, re.M)
    return sum(float(x) for x in found)


async def test_a_worker_killed_mid_utterance_costs_only_that_utterance(
    server: ServerThread,
) -> None:
    engine = server.app.state.pipeline.stt
    before = stt_errors(server)
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        await c.stream(speech_frames("what can you do", lead=0.3))
        first = await c.wait_for(
            lambda e: e["type"] == "agent_transcript" and e["final"], within=30
        )
        await c.wait_for(lambda e: e["type"] == "turn_metrics")
        frames = speech_frames("who are you", lead=0.3, tail=0.0)
        await c.stream(frames[: len(frames) * 2 // 3])
        await c.wait_for(lambda e: e["type"] == "user_state" and e["state"] == "speaking")
        # The worker decoding this session's stream (the only stream open).
        (victim,) = [s.worker_pid for s in engine._streams if s.worker_pid is not None]
        assert victim in descendants(os.getpid())
        os.kill(victim, signal.SIGKILL)
        await c.stream(frames[len(frames) * 2 // 3 :])
        await c.silence(1.0)
        await until(lambda: stt_errors(server) >= before + 1, "the lost worker in /metrics")
        # The next question is heard by a fresh worker and answered.
        replies = len([e for e in c.of("agent_transcript") if e["final"]])
        await c.stream(speech_frames("what can you do", lead=0.5))
        await c.wait_for(
            lambda e: (
                e["type"] == "agent_transcript"
                and e["final"]
                and len([x for x in c.of("agent_transcript") if x["final"]]) > replies
            ),
            within=30,
        )
        session_id = server.manager.sessions()[0].session_id
    assert victim not in descendants(os.getpid())
    server.wait_idle()
    # Nothing already recorded is lost: the first turn is in the store, and the error.
    store = server.app.state.metrics.store  # on the server's loop
    server.call(lambda: store.flush(10))
    rec = server.call(lambda: store.get_session(session_id))
    assert rec is not None and rec.turns[0].agent_text == first["text"]
    errors = server.call(lambda: store.list_errors(session_id=session_id))
    assert any(e.component == "stt" and "lost" in e.message for e in errors)
