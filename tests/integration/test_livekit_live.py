"""Against a real LiveKit server: run only when ``LIVEKIT_URL`` (with ``LIVEKIT_API_KEY`` and
``LIVEKIT_API_SECRET``) is set, e.g. ``livekit-server --dev`` (devkey / secret) or the compose
stack in ``deploy/``. A worker runs in this process (threads); ``call``, ``join`` and the
token endpoint's tokens talk to it through the server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from livekit import api, rtc

from causerie.audio.wav import PCM
from causerie.server.token import TokenSettings, token_router
from causerie.transports.audio_io import is_audible
from causerie.transports.livekit.bridge import dispatch
from causerie.transports.livekit.caller import CallPlan, call
from causerie.transports.livekit.settings import Credentials, LiveKitSettings, WorkerSettings
from causerie.transports.livekit.worker import JobConfig, build_server, run_worker
from tests.speech import speak

pytestmark = [
    pytest.mark.livekit,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("LIVEKIT_URL"), reason="needs a LiveKit server: set LIVEKIT_URL"
    ),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def creds() -> Credentials:
    return LiveKitSettings.from_env(os.environ).require()


@pytest.fixture
async def worker(creds: Credentials) -> AsyncIterator[str]:
    """A registered worker with a unique name (explicit dispatch); yields the name."""
    name = f"causerie-test-{uuid.uuid4().hex[:6]}"
    settings = WorkerSettings(executor="thread", idle_processes=1, health_port=0, max_retry=2)
    server = build_server(
        creds, settings, JobConfig(config_path=str(ROOT / "agent.yaml")), agent_name=name
    )
    registered = asyncio.Event()
    server.on("worker_registered", lambda *_: registered.set())
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(server, creds, stop=stop))
    await asyncio.wait_for(registered.wait(), 60)
    try:
        yield name
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)


async def test_call_talks_to_a_dispatched_worker(creds: Credentials, worker: str) -> None:
    pcm = PCM(
        np.concatenate([np.zeros(8000, np.int16), speak("who are you"), np.zeros(16000, np.int16)]),
        16000,
    )
    lines: list[str] = []
    result = await call(
        creds, CallPlan.new(None, None, worker), pcm, agent_timeout=60, printer=lines.append
    )
    assert result.texts("user"), lines
    assert result.texts("agent") and result.texts("agent")[-1].strip(), lines
    kinds = {e["type"] for e in result.events}
    assert {"ready", "agent_state", "turn_metrics"} <= kinds
    assert result.output is not None
    chunk = 480
    audible = sum(
        is_audible(rtc.AudioFrame(result.output.samples[i : i + chunk].tobytes(), 24000, 1, chunk))
        for i in range(0, len(result.output.samples) - chunk, chunk)
    )
    assert audible > 25, "at least half a second of the agent's voice was recorded"


async def test_join_dispatches_the_worker_to_an_existing_room(
    creds: Credentials, worker: str
) -> None:
    room = f"join-{uuid.uuid4().hex[:6]}"
    lkapi = api.LiveKitAPI(creds.url, creds.api_key, creds.secret)
    try:
        await lkapi.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=30))
        d = await dispatch(creds, room, worker)
        listed = await lkapi.agent_dispatch.list_dispatch(room)
        assert d.dispatch_id in [x.id for x in listed]
    finally:
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))
        await lkapi.aclose()


async def test_a_token_from_the_endpoint_joins_and_brings_the_agent(
    creds: Credentials, worker: str
) -> None:
    env = {**os.environ, "LIVEKIT_AGENT_NAME": worker}
    app = FastAPI()
    app.include_router(token_router(TokenSettings(), env=env))
    room_name = f"token-{uuid.uuid4().hex[:6]}"
    body = TestClient(app).get("/token", params={"room": room_name, "identity": "web-user"}).json()
    room = rtc.Room()
    agent_here = asyncio.Event()

    def on_join(p: rtc.RemoteParticipant) -> None:
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            agent_here.set()

    room.on("participant_connected", on_join)
    await room.connect(body["url"], body["token"])
    try:
        for p in room.remote_participants.values():
            on_join(p)
        await asyncio.wait_for(agent_here.wait(), 60)
    finally:
        await room.disconnect()
        lkapi = api.LiveKitAPI(creds.url, creds.api_key, creds.secret)
        try:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=room_name))
        finally:
            await lkapi.aclose()
