"""Helpers for the metrics tests: real sessions recorded through a collector (text mode with
the scripted LLM, or voice through ``causerie.transports.file.talk`` on espeak speech), and
an app served by a real uvicorn on a free port (SSE and the browser need a socket)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from livekit.agents import ToolError, function_tool
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults
from causerie.agent.voice_agent import CauserieAgent
from causerie.metrics.collector import SessionCollector, attach_metrics
from causerie.providers.local.scripted import ScriptedLLM
from causerie.providers.local.scripted.brain import Reply, ToolRequest, Turn
from causerie.providers.local.scripted.smalltalk import SmallTalk
from causerie.store.records import (
    ErrorRecord,
    SessionEnd,
    SessionRecord,
    TranscriptEntry,
    TurnRecord,
)

from .fixtures_store import free_port

ROOT = Path(__file__).resolve().parents[1]


class Shop:
    """'weather' -> get_weather (ok), 'broken' -> broken_tool (fails)."""

    name = "shop"

    def respond(self, turn: Turn) -> Any:
        if turn.has_any("weather"):
            return [ToolRequest("get_weather", {"city": "Paris"})]
        if turn.has_any("broken"):
            return [ToolRequest("broken_tool", {})]
        return None

    def after_tools(self, turn: Turn) -> Reply | None:
        r = turn.tool_results[0]
        return Reply(f"Sorry, {r.output}" if r.is_error else f"It is sunny in {r.output}.")


@function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    await asyncio.sleep(0.02)
    return city


@function_tool
async def broken_tool() -> str:
    """Always fails."""
    raise ToolError("the catalogue is down")


class Sink:
    """Records what a collector writes, in order (the RecordSink protocol)."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def start_session_nowait(self, session: SessionRecord) -> bool:
        self.records.append(session)
        return True

    def end_session_nowait(
        self,
        session_id: str,
        outcome: Any = "completed",
        error: str | None = None,
        *,
        ended_at: float | None = None,
    ) -> bool:
        self.records.append(SessionEnd(session_id, ended_at or time.time(), outcome, error))
        return True

    def add_turn_nowait(self, turn: TurnRecord) -> bool:
        self.records.append(turn)
        return True

    def add_transcript_entry_nowait(self, session_id: str, entry: TranscriptEntry) -> bool:
        self.records.append(entry)
        return True

    def annotate_session_nowait(self, session_id: str, annotations: Any) -> bool:
        self.records.append(dict(annotations))
        return True

    def add_error_nowait(self, error: ErrorRecord) -> bool:
        self.records.append(error)
        return True

    def of(self, kind: type) -> list[Any]:
        return [r for r in self.records if isinstance(r, kind)]


def shop_llm() -> ScriptedLLM:
    return ScriptedLLM(skills=[Shop(), SmallTalk()])


async def text_session(
    collector: SessionCollector,
    texts: list[str],
    *,
    llm: Any = None,
    close: bool = True,
) -> AgentSession:
    """A real AgentSession in text mode, recorded by ``collector``; closed unless asked."""
    session: AgentSession = AgentSession(llm=llm or shop_llm())
    faults = Faults()
    attach_metrics(session, None, collector, faults=faults)
    await session.start(
        CauserieAgent(
            instructions="x",
            language="en",
            faults=faults,
            max_response_time=5.0,
            tools=[get_weather, broken_tool],
        )
    )
    for text in texts:
        await session.run(user_input=text)
    if close:
        await session.aclose()
    return session


async def voice_session(collector_for: Any, utterances: list[str], *, gap: float = 8.0) -> Any:
    """Espeak speech through pocketsphinx -> scripted -> espeak with ``talk`` (the same path
    as ``causerie talk``); ``collector_for(session, pipeline)`` returns the collector.

    ``talk`` (fast) skips the rest of a gap once the reply is done, so a long gap costs
    nothing on a quiet machine; on a loaded one it keeps the next utterance from talking
    over a late reply (livekit then reports no STT delay for that turn)."""
    from causerie.agent.pipeline import build_pipeline
    from causerie.agent.session import build_agent, build_session
    from causerie.audio.wav import PCM
    from causerie.config import load_config
    from causerie.providers.registry import Registry
    from causerie.transports.file import IN_RATE, talk

    from .speech import conversation

    registry = Registry.from_entry_points()
    loaded = load_config(ROOT / "agent.yaml", environ={}, dotenv=None, registry=registry)
    pipeline = await asyncio.to_thread(build_pipeline, loaded, registry)
    try:
        session = build_session(loaded, pipeline)
        collector = collector_for(session, pipeline)
        pcm = PCM(conversation(utterances, gap=gap), IN_RATE)
        return await talk(
            session,
            build_agent(loaded, Faults()),
            pcm,
            fast=True,
            printer=lambda _: None,
            collector=collector,
        )
    finally:
        await pipeline.aclose()


@contextlib.asynccontextmanager
async def served(app: Any, *, lifespan: bool = False) -> AsyncIterator[str]:
    """``app`` on a real socket in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on" if lifespan else "off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name=f"tests.uvicorn[{port}]")
    try:
        for _ in range(6000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)
