"""The LiveKit worker serves the same agent definitions as ``causerie serve``: a room whose
metadata asks for ``{"agent": "help"}`` talks to agents/help.yaml, as its file is at the
job's start, on the prewarmed pipeline when the providers are the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from livekit.protocol import models

from causerie.transports.livekit.settings import WorkerSettings
from causerie.transports.livekit.worker import JobConfig, build_server, requested_agent
from tests.integration.test_livekit_worker import (
    RATE,
    Observed,
    creds,
    leave,
    simulated_setup,
    wait_until,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HELP = """\
name: Help Desk
greeting: "Hello from the help desk."
stt: {provider: pocketsphinx}
llm: {provider: scripted}
tts: {provider: espeak, voice: en-us}
vad: {provider: silero, options: {min_silence_duration: 0.2}}
"""


def test_requested_agent_reads_dispatch_then_room_metadata() -> None:
    assert requested_agent('{"agent": "shop"}', '{"agent": "help"}') == "shop"
    assert requested_agent("", '{"agent": "help"}') == "help"
    assert requested_agent("not json", '{"participant_identity": "u"}') is None
    assert requested_agent('{"agent": 3}', "[1]") is None


async def test_room_metadata_picks_the_agent(tmp_path: Path) -> None:
    main = tmp_path / "agent.yaml"
    main.write_text((ROOT / "agent.yaml").read_text().replace("instructions_file:", "#"))
    (tmp_path / "agents").mkdir()
    help_file = tmp_path / "agents" / "help.yaml"
    help_file.write_text(HELP)
    job = JobConfig(
        config_path=str(main),
        overrides={"metrics.enabled": False},
        join_timeout=30.0,
        agents_dir=str(tmp_path / "agents"),
    )
    observed = Observed()
    silence = np.zeros(RATE * 30, np.int16)
    settings = WorkerSettings(executor="thread", idle_processes=1, health_port=0, max_retry=0)
    server = build_server(
        creds(), settings, job, agent_name="causerie", setup=simulated_setup(job, silence, observed)
    )
    started = asyncio.Event()
    server.on("worker_started", started.set)
    run = asyncio.create_task(server.run(devmode=True, unregistered=True))
    try:
        await asyncio.wait_for(started.wait(), 60)
        await wait_until(lambda: bool(observed.runtimes), 60)
        # Saved after the worker started: the job reads the file as it is now.
        help_file.write_text(HELP.replace("Hello from", "Welcome to"))
        room = models.Room(sid="SRM_help", name="help-room", metadata='{"agent": "help"}')
        await server.simulate_job("help-room", fake_job=True, room_info=room)
        ready = await asyncio.to_thread(observed.wait_for, lambda e: e["type"] == "ready", 60)
        assert ready["agent_name"] == "Help Desk"
        greeting = await asyncio.to_thread(
            observed.wait_for, lambda e: e["type"] == "agent_transcript" and e["final"], 30
        )
        assert greeting["text"] == "Welcome to the help desk."
        # Same providers as the default agent: its prewarmed models serve this job.
        session = observed.sessions[0]
        assert session.stt is observed.runtimes[0].pipeline.stt
        leave(_room(), observed.loops[0])
        await wait_until(lambda: not server.active_jobs, 30)
    finally:
        await server.aclose()
        await asyncio.wait_for(run, 30)


def _room() -> object:
    from livekit.agents.ipc.mock_room import create_mock_room

    return create_mock_room()
