"""livekit's AgentSession still records its events where lk_events trims them."""

from __future__ import annotations

from livekit.agents.voice import AgentSession
from livekit.agents.voice.events import AgentStateChangedEvent

from causerie.agent.lk_events import trim_recorded_events


async def test_recorded_events_are_trimmed() -> None:
    session: AgentSession = AgentSession()
    for _ in range(600):
        session.emit(
            "agent_state_changed",
            AgentStateChangedEvent(old_state="listening", new_state="thinking"),
        )
    assert len(session._recorded_events) == 600  # livekit keeps them all (the attribute exists)
    assert trim_recorded_events(session, keep=100) == 500
    assert len(session._recorded_events) == 100
    assert trim_recorded_events(session, keep=100) == 0  # under twice the bound: untouched
