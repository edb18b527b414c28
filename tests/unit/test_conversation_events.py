"""livekit's ``AgentSession`` keeps every event it emits; a conversation trims that list
after each reply, whatever the transport (it used to be the browser bridge's job only)."""

from __future__ import annotations

from causerie.compat.livekit import recorded_events
from causerie.config import load_config
from causerie.providers.registry import Registry
from causerie.runtime import Conversation, Runtime
from tests.waiting import until

KEEP = 4


async def test_recorded_events_stay_bounded_over_many_replies() -> None:
    registry = Registry.from_entry_points()
    loaded = load_config(None, environ={}, dotenv=None, registry=registry)
    runtime = await Runtime.build(loaded, registry, stages=("llm",))
    conversation = Conversation(runtime, transport="text", greeting=False)
    conversation.keep_events = KEEP
    session = conversation.session
    replies: list[str] = []
    session.on(
        "conversation_item_added",
        lambda ev: (
            replies.append(ev.item.text_content)
            if getattr(ev.item, "role", None) == "assistant"
            else None
        ),
    )
    await conversation.start()
    try:
        most = 0
        for i in range(6):
            assert conversation.handle_client_event({"type": "text", "text": "hello"})["ok"]
            await until(lambda n=i: len(replies) > n, f"reply {i + 1}")
            await until(lambda: session.agent_state == "listening", "the reply to end")
            most = max(most, len(recorded_events(session)))
        assert 0 < most <= 2 * KEEP + 10  # trimmed after each reply (~8 events a reply)
        kinds = {type(ev).__name__ for ev in recorded_events(session)}
        assert "AgentStateChangedEvent" in kinds  # the latest ones are the ones kept
    finally:
        await conversation.aclose()
        await runtime.aclose()
