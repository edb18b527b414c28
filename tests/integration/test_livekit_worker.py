"""The worker, without a LiveKit server: livekit-agents' own job simulation.

``AgentServer.simulate_job(fake_job=True)`` runs our real prewarm and entrypoint in a job
"process" (a thread here) with livekit's mock room. The room's audio is replaced by custom
audio I/O (the runtime's ``io_factory``) playing espeak speech in real time, so the offline
pipeline (pocketsphinx, scripted LLM, espeak) holds a whole conversation; the events go out
as data messages on the mock room's participant. Then the user leaves and the job ends.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from livekit import rtc
from livekit.agents import JobProcess
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.voice import io
from pydantic import SecretStr

from causerie.events.schema import validate_server_event
from causerie.store import open_store
from causerie.transports.audio_io import PacedAudioOutput, is_audible
from causerie.transports.livekit.data import EVENTS_TOPIC
from causerie.transports.livekit.room_session import AgentRuntime, ParticipantTracker
from causerie.transports.livekit.settings import Credentials, LiveKitUnreachable, WorkerSettings
from causerie.transports.livekit.worker import (
    RUNTIME_KEY,
    JobConfig,
    build_server,
    prewarm,
    run_worker,
)
from tests.speech import speak

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
SPF = RATE // 50  # 20 ms
SECRET = "worker-secret-that-must-never-be-logged"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def creds(port: int | None = None) -> Credentials:
    return Credentials(f"ws://127.0.0.1:{port or closed_port()}", "devkey", SecretStr(SECRET))


class WavMic(io.AudioInput):
    """A microphone playing ``pcm`` at real-time pace in the job's own loop, then silence."""

    def __init__(self, pcm: np.ndarray) -> None:
        super().__init__(label="wav-mic")
        self._pcm = pcm
        self._i = 0
        self._start: float | None = None

    async def __anext__(self) -> rtc.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._i * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self._pcm[self._i * SPF : (self._i + 1) * SPF]
        if len(chunk) < SPF:
            chunk = np.pad(chunk, (0, SPF - len(chunk)))
        self._i += 1
        return rtc.AudioFrame(chunk.tobytes(), RATE, 1, SPF)


@dataclass
class Observed:
    """What the job thread reports to the test thread (thread-safe queue, plain lists)."""

    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    audio: list[rtc.AudioFrame] = field(default_factory=list)
    runtimes: list[AgentRuntime] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)
    loops: list[asyncio.AbstractEventLoop] = field(default_factory=list)

    def wait_for(self, pred: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(ev)
            if pred(ev):
                return ev
        raise AssertionError(
            f"no matching event in {timeout} s; saw {[e.get('type') for e in seen]}"
        )


def simulated_setup(job: JobConfig, pcm: np.ndarray, observed: Observed) -> Any:
    """The real prewarm, plus custom audio I/O and an observer hook (test only)."""

    def setup(proc: JobProcess) -> None:
        prewarm(job, proc)
        runtime: AgentRuntime = proc.userdata[RUNTIME_KEY]
        observed.runtimes.append(runtime)

        def io_factory(_: Any) -> tuple[io.AudioInput, io.AudioOutput]:
            return WavMic(pcm), PacedAudioOutput(observed.audio.append, sample_rate=24000)

        def hook(conversation: Any) -> None:
            session = conversation.session
            observed.sessions.append(session)
            observed.loops.append(asyncio.get_running_loop())
            conversation.userdata.events.subscribe(observed.events.put)
            session.on(
                "close",
                lambda ev: observed.events.put({"type": "_closed", "reason": str(ev.reason)}),
            )

        runtime.io_factory = io_factory
        runtime.session_hooks.append(hook)

    return setup


def published_events(room: Any, since: int) -> list[dict[str, Any]]:
    calls = room.local_participant.publish_data.call_args_list[since:]
    return [json.loads(c.args[0]) for c in calls if c.kwargs.get("topic") == EVENTS_TOPIC]


async def test_worker_job_simulation_runs_a_whole_conversation(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/metrics.db"
    job = JobConfig(
        config_path=str(ROOT / "agent.yaml"),
        overrides={"metrics.store_url": store_url, "metrics.enabled": True},
        join_timeout=30.0,
    )
    pcm = np.concatenate(
        [np.zeros(2 * RATE, np.int16), speak("who are you"), np.zeros(RATE * 30, np.int16)]
    )
    observed = Observed()
    settings = WorkerSettings(executor="thread", idle_processes=1, health_port=0, max_retry=0)
    server = build_server(
        creds(), settings, job, agent_name="causerie", setup=simulated_setup(job, pcm, observed)
    )
    room = create_mock_room()  # livekit caches it: every fake job gets this one
    sent_before = len(room.local_participant.publish_data.call_args_list)
    started = asyncio.Event()
    server.on("worker_started", started.set)
    run = asyncio.create_task(server.run(devmode=True, unregistered=True))
    try:
        await asyncio.wait_for(started.wait(), 60)
        # The models loaded in prewarm, before any job exists.
        await wait_until(lambda: bool(observed.runtimes), 60)
        await server.simulate_job("sim-room", fake_job=True)

        ready = await asyncio.to_thread(observed.wait_for, lambda e: e["type"] == "ready", 60)
        assert ready["transport"] == "livekit" and ready["agent_name"] == "Causerie"
        user = await asyncio.to_thread(
            observed.wait_for, lambda e: e["type"] == "user_transcript" and e["final"], 30
        )
        assert "you" in user["text"]
        reply = await asyncio.to_thread(
            observed.wait_for, lambda e: e["type"] == "agent_transcript" and e["final"], 30
        )
        assert reply["text"].strip()  # the scripted brain answers whatever it heard
        metrics = await asyncio.to_thread(
            observed.wait_for, lambda e: e["type"] == "turn_metrics", 10
        )
        assert metrics["turn"] == 1 and metrics["llm_ttft"] is not None
        await wait_until(lambda: sum(is_audible(f) for f in observed.audio) > 25, 20)

        # The session used the prewarmed providers: nothing was loaded for the job.
        session = observed.sessions[0]
        assert any(session.stt is rt.pipeline.stt for rt in observed.runtimes)
        assert (
            session.userdata.transport == "livekit" and session.options.aec_warmup_duration is None
        )

        # The same events went out as data messages, valid against the schema.
        await wait_until(
            lambda: any(e["type"] == "turn_metrics" for e in published_events(room, sent_before)), 5
        )
        out = published_events(room, sent_before)
        for ev in out:
            validate_server_event(ev)
        kinds = [e["type"] for e in out]
        assert {
            "ready",
            "user_transcript",
            "agent_transcript",
            "agent_state",
            "turn_metrics",
        } <= set(kinds)

        # The user leaves (a room event): the session closes and the job ends.
        leave(room, observed.loops[0])
        closed = await asyncio.to_thread(observed.wait_for, lambda e: e["type"] == "_closed", 20)
        assert closed["reason"]
        await wait_until(lambda: not server.active_jobs, 20)
    finally:
        await server.aclose()
        await asyncio.wait_for(run, 30)

    # The metrics collector recorded the conversation in the store, as the user leaving.
    async with open_store(store_url) as store:
        record = await store.get_session(ready["session_id"])
    assert record is not None and record.transport == "livekit"
    assert record.outcome == "user_left" and record.ended_at is not None
    assert record.turn_count >= 1 and record.turns[0].llm_ttft is not None


def leave(room: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Fire ``participant_disconnected`` for the mock user at the tracker the job registered."""
    handlers = [
        c.args[1]
        for c in room.on.call_args_list
        if c.args
        and c.args[0] == "participant_disconnected"
        and isinstance(getattr(c.args[1], "__self__", None), ParticipantTracker)
    ]
    user = next(iter(room.remote_participants.values()))
    loop.call_soon_threadsafe(handlers[-1], user)


async def wait_until(pred: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_unreachable_server_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    c = creds()
    settings = WorkerSettings(executor="thread", idle_processes=0, health_port=0, max_retry=0)
    server = build_server(c, settings, JobConfig(), agent_name="causerie")
    with pytest.raises(LiveKitUnreachable) as err:
        await asyncio.wait_for(run_worker(server, c), 30)
    assert c.url in str(err.value) and "LIVEKIT_URL" in str(err.value)
    assert SECRET not in caplog.text and SECRET not in str(err.value)


async def test_health_endpoint_then_stop_drains_and_closes() -> None:
    c = creds()
    settings = WorkerSettings(executor="thread", idle_processes=0, health_port=0, max_retry=1000)
    server = build_server(c, settings, JobConfig(), agent_name="shop")
    stop = asyncio.Event()
    started = asyncio.Event()
    task = asyncio.create_task(run_worker(server, c, stop=stop, on_started=lambda _: started.set()))
    await asyncio.wait_for(started.wait(), 30)
    port = server.worker_info.http_port
    async with httpx.AsyncClient(timeout=60) as http:
        health = await http.get(f"http://127.0.0.1:{port}/")
        assert health.status_code == 200 and health.text == "OK"
        info = (await http.get(f"http://127.0.0.1:{port}/worker")).json()
        assert (
            info["agent_name"] == "shop" and info.get("active_jobs", 0) == 0
        )  # proto JSON omits 0
    stop.set()
    await asyncio.wait_for(task, 30)
    assert server.draining
