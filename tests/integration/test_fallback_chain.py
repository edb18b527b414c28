"""A fallback chain in agent.yaml, against a local OpenAI-compatible server that fails on
purpose: the session switches to the next LLM within ``fallback.timeout``, the user gets an
answer (not the apology), and the turn record says who answered and counts the failover."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from livekit.agents.voice import AgentSession

from causerie.agent.fallback import LLMChain
from causerie.agent.faults import Faults, apology
from causerie.agent.pipeline import build_stage
from causerie.agent.session import build_agent
from causerie.config import load_config
from causerie.metrics.collector import SessionCollector, attach_metrics
from causerie.providers.registry import Registry
from causerie.store.records import ErrorRecord, TurnRecord
from tests.integration.openai_compat_server import FakeOpenAIServer
from tests.unit.test_collector import Sink

pytest.importorskip("livekit.plugins.openai", reason="pip install 'causerie[openai]'")

AGENT = """\
name: Fallback
instructions: Be brief.
llm:
  - provider: openai
    model: gpt-4o-mini
    base_url: {base}
  - provider: scripted
fallback: {{timeout: 1.5}}
turn: {{max_response_time: 60}}
"""


async def _conversation(
    tmp_path: Path, base: str, texts: list[str]
) -> tuple[Sink, Faults, tuple[str, ...]]:
    path = tmp_path / "agent.yaml"
    path.write_text(AGENT.format(base=base))
    registry = Registry.from_entry_points()
    loaded = load_config(
        path, environ={"OPENAI_API_KEY": "sk-fake"}, dotenv=None, registry=registry
    )
    chain = build_stage("llm", loaded, registry)
    assert isinstance(chain, LLMChain)
    # Labels as the plugins name themselves (the OpenAI plugin: its host) and metrics do.
    assert chain.chain_labels[0].endswith("/gpt-4o-mini")
    assert chain.chain_labels[1].startswith("scripted")
    sink, faults = Sink(), Faults()
    session: AgentSession = AgentSession(llm=chain)
    collector = SessionCollector(sink, session_id="s1", transport="text", agent_name="Fallback")
    attach_metrics(session, None, collector, faults=faults)
    await session.start(build_agent(loaded, faults, tools=[], plugins=None))
    try:
        for text in texts:
            await asyncio.wait_for(session.run(user_input=text), timeout=45)
    finally:
        await session.aclose()
        await chain.aclose()
    return sink, faults, chain.chain_labels


@pytest.mark.parametrize("failure", ["500", "hang", "drop"])
async def test_a_failing_server_hands_the_turn_to_the_next_llm(
    tmp_path: Path, failure: str
) -> None:
    server = FakeOpenAIServer(fail=failure)  # type: ignore[arg-type]
    base = await server.start()
    try:
        sink, faults, labels = await _conversation(tmp_path, base, ["hello", "thank you"])
    finally:
        await server.stop()
    assert server.requests, "the first LLM was tried"
    turns = sink.of(TurnRecord)
    assert [t.user_text for t in turns] == ["hello", "thank you"]
    for turn in turns:
        # An answer from the scripted LLM, not the timeout apology of the agent's deadline.
        assert turn.agent_text and turn.agent_text not in (
            apology("en"),
            apology("en", timeout=True),
        )
        assert turn.providers["llm"] == labels[1]
        assert turn.failovers == ["llm"]
    assert not faults.counts  # the chain absorbed the failure: no apology, no fault
    # ...and the failing provider is logged once as an error, when the chain dropped it.
    (error,) = sink.of(ErrorRecord)
    assert (error.component, error.provider) == ("llm", labels[0])
    assert "the next in the chain takes over" in error.message


async def test_a_healthy_first_llm_answers_and_no_failover_is_counted(tmp_path: Path) -> None:
    server = FakeOpenAIServer("Hi from the first.")
    base = await server.start()
    try:
        sink, _, labels = await _conversation(tmp_path, base, ["hello"])
    finally:
        await server.stop()
    (turn,) = sink.of(TurnRecord)
    assert turn.agent_text == "Hi from the first."
    assert turn.providers["llm"] == labels[0] and turn.failovers == []
    assert not sink.of(ErrorRecord)
