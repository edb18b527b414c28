"""A provider failing mid-turn leaves the session alive; the user gets a short apology."""

from __future__ import annotations

import pytest
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults, apology
from causerie.agent.voice_agent import CauserieAgent
from tests.fakes import FlakyLLM


def agent(faults: Faults, language: str = "en", max_response_time: float = 5.0) -> CauserieAgent:
    return CauserieAgent(
        instructions="x", language=language, faults=faults, max_response_time=max_response_time
    )


def texts(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.item.text_content for e in result.events if e.type == "message"]


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_llm_failure_gives_apology_and_next_turn_works(language: str) -> None:
    faults = Faults()
    seen: list[str] = []
    faults.observers.append(lambda comp, err: seen.append(comp))
    session: AgentSession = AgentSession(llm=FlakyLLM({1}, language=language))
    await session.start(agent(faults, language))
    try:
        r1 = await session.run(user_input="hello")
        assert texts(r1) == [apology(language)]
        assert faults.counts["llm"] == 1 and seen == ["llm"]
        r2 = await session.run(user_input="hello")
        assert texts(r2)[0].startswith(("Hello", "Bonjour"))
    finally:
        await session.aclose()


async def test_repeated_failures_never_close_the_session() -> None:
    faults = Faults()
    session: AgentSession = AgentSession(llm=FlakyLLM({1, 2, 3, 4, 5}))
    await session.start(agent(faults))
    try:
        for _ in range(5):
            r = await session.run(user_input="hello")
            assert texts(r) == [apology("en")]
        r = await session.run(user_input="hello")
        assert texts(r)[0].startswith("Hello")
        assert faults.counts["llm"] == 5
    finally:
        await session.aclose()


async def test_stalled_llm_times_out_with_apology() -> None:
    faults = Faults()
    session: AgentSession = AgentSession(llm=FlakyLLM({1}, mode="stall"))
    await session.start(agent(faults, max_response_time=0.3))
    try:
        r = await session.run(user_input="hello")
        assert texts(r) == [apology("en", timeout=True)]
        r = await session.run(user_input="hello")
        assert texts(r)[0].startswith("Hello")
    finally:
        await session.aclose()


def test_failing_observer_does_not_break_recording() -> None:
    faults = Faults()
    faults.observers.append(lambda c, e: 1 / 0)  # type: ignore[func-returns-value]
    faults.record("tts", RuntimeError("x"))
    assert faults.counts["tts"] == 1


def test_a_session_fault_counts_in_the_process_too() -> None:
    process = Faults()
    seen: list[str] = []
    process.observers.append(lambda comp, err: seen.append(f"process:{comp}"))
    session = Faults(observers=[lambda comp, err: seen.append(f"session:{comp}")], parent=process)
    session.record("llm", RuntimeError("x"))
    assert session.counts["llm"] == 1 and process.counts["llm"] == 1
    assert seen == ["session:llm", "process:llm"]
