"""The one turn-metrics assembler (causerie.metrics.turns) on real AgentSessions: every figure
of a spoken turn, one assembler feeding both the store's records and the client's
``turn_metrics`` event, a typed turn without voice-to-voice, and sessions sharing provider
objects whose figures and errors stay apart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from livekit.agents import APIConnectionError, llm
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults
from causerie.agent.voice_agent import CauserieAgent
from causerie.config.spec import MetricsSpec
from causerie.events import EventChannel
from causerie.metrics.collector import SessionCollector, attach_metrics
from causerie.metrics.runtime import MetricsRuntime
from causerie.metrics.turns import TurnAssembler
from causerie.providers.local.scripted import ScriptedLLM
from causerie.runtime.session_events import SessionEvents
from causerie.store import SQLiteStore
from causerie.store.records import ErrorRecord, TurnRecord
from causerie.userdata import SessionData

from ..fixtures_metrics import Sink, get_weather, shop_llm, voice_session


class CountingLLM(ScriptedLLM):
    """The scripted brain. Its usage reports the user's text length as prompt tokens, and a
    user text containing 'retry' fails once (retryably: livekit retries it and reports a
    recoverable error) before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: set[str] = set()

    def chat(self, *, chat_ctx: llm.ChatContext, **kw: Any) -> llm.LLMStream:
        stream = super().chat(chat_ctx=chat_ctx, **kw)
        last = chat_ctx.items[-1] if chat_ctx.items else None
        text = (last.text_content or "") if isinstance(last, llm.ChatMessage) else ""
        run = stream._run

        async def counted_run() -> None:
            if "retry" in text and text not in self.failed:
                self.failed.add(text)
                raise APIConnectionError("a blip upstream", retryable=True)
            await run()
            stream._event_ch.send_nowait(
                llm.ChatChunk(
                    id="usage",
                    usage=llm.CompletionUsage(
                        completion_tokens=1, prompt_tokens=len(text), total_tokens=len(text) + 1
                    ),
                )
            )

        stream._run = counted_run  # type: ignore[method-assign]
        return stream


def agent(faults: Faults) -> CauserieAgent:
    return CauserieAgent(
        instructions="x", language="en", faults=faults, max_response_time=5.0, tools=[get_weather]
    )


class Recorded:
    """One text session as a transport runs it: the client's event mapping and the recorder
    share the session's one assembler."""

    def __init__(self, sid: str, model: llm.LLM, v2v: list[float] | None = None) -> None:
        self.sink = Sink()
        self.events = EventChannel()
        self.client: list[dict[str, Any]] = []
        self.events.subscribe(self.client.append)
        self.session: AgentSession = AgentSession(llm=model)
        self.faults = Faults()
        pending = v2v if v2v is not None else []
        self.mapper = SessionEvents(
            self.session,
            self.events,
            take_voice_to_voice=lambda: pending.pop(0) if pending else None,
        )
        self.collector = SessionCollector(
            self.sink, session_id=sid, transport="websocket", agent_name="Causerie"
        )

    async def start(self) -> None:
        userdata = type("Userdata", (), {"events": self.events})()
        attach_metrics(
            self.session, userdata, self.collector, faults=self.faults, turns=self.mapper.turns
        )
        self.mapper.attach()
        await self.session.start(agent(self.faults))

    async def aclose(self) -> None:
        await self.session.aclose()
        self.mapper.detach()

    def turns(self) -> list[TurnRecord]:
        return self.sink.of(TurnRecord)

    def turn_metrics(self) -> list[dict[str, Any]]:
        return [e for e in self.client if e["type"] == "turn_metrics"]


@pytest.mark.slow
async def test_a_spoken_turn_has_every_figure() -> None:
    """Espeak speech -> pocketsphinx -> scripted LLM -> espeak (the ``talk`` path)."""
    sink = Sink()

    def collector_for(session: Any, pipeline: Any) -> SessionCollector:
        return SessionCollector(sink, session_id="voice", transport="cli", agent_name="Causerie")

    result = await voice_session(collector_for, ["Hello there."])
    spoken = [t for t in sink.of(TurnRecord) if t.user_text]
    assert spoken, [(t.user_text, t.agent_text) for t in sink.of(TurnRecord)]
    t = spoken[0]
    figures = {
        "stt_final_delay": t.stt_final_delay,
        "end_of_utterance_delay": t.end_of_utterance_delay,
        "llm_ttft": t.llm_ttft,
        "llm_duration": t.llm_duration,
        "llm_prompt_tokens": t.llm_prompt_tokens,
        "tts_ttfb": t.tts_ttfb,
        "tts_duration": t.tts_duration,
        "voice_to_voice": t.voice_to_voice,
        "lk_e2e_latency": t.lk_e2e_latency,
    }
    assert None not in figures.values(), figures
    assert t.voice_to_voice == pytest.approx(result.turns[0].voice_to_voice)
    assert t.providers["stt"] == "pocketsphinx/en-us" and t.providers["llm"].startswith("scripted")


async def test_one_assembler_feeds_the_records_and_the_client() -> None:
    rec = Recorded("s1", shop_llm(), v2v=[])
    await rec.start()
    assert rec.collector.assembler is rec.mapper.turns
    await rec.session.run(user_input="what is the weather")
    await rec.session.run(user_input="hello")
    await rec.aclose()

    weather, hello = rec.turns()
    assert [c.name for c in weather.tool_calls] == ["get_weather"] and weather.tool_calls[0].ok
    # The client's figures are the record's, turn by turn.
    events = rec.turn_metrics()
    assert [e["turn"] for e in events] == [1, 2]
    for record, event in zip((weather, hello), events, strict=True):
        assert record.llm_ttft is not None
        assert event["llm_ttft"] == record.llm_ttft and event["tts_ttfb"] == record.tts_ttfb
        assert event["stt"] == record.stt_final_delay
        assert event["interrupted"] == record.interrupted
    # A typed turn: the transport heard no speech, so no voice-to-voice anywhere.
    assert all(t.voice_to_voice is None for t in (weather, hello))
    assert all(e["voice_to_voice"] is None for e in events)


async def test_the_transports_figure_is_pulled_once_per_reply() -> None:
    rec = Recorded("s1", ScriptedLLM(), v2v=[0.41, 0.52])
    await rec.start()
    await rec.session.run(user_input="hello")
    await rec.session.run(user_input="what can you do")
    await rec.aclose()
    assert [t.voice_to_voice for t in rec.turns()] == [0.41, 0.52]
    assert [e["voice_to_voice"] for e in rec.turn_metrics()] == [0.41, 0.52]


async def test_sessions_sharing_providers_keep_their_figures_and_errors() -> None:
    """One LLM object for both sessions: livekit relays its usage and error events to every
    session using it; each session keeps its own."""
    shared = CountingLLM()
    a, b = Recorded("a", shared), Recorded("b", shared)
    both_started = asyncio.Barrier(2)  # both listening before either talks

    async def talk(rec: Recorded, texts: list[str]) -> None:
        # One task per session, as a transport runs it: the session's tasks inherit its
        # context, which is how a shared provider's events are told apart.
        await rec.start()
        await both_started.wait()
        for text in texts:
            await rec.session.run(user_input=text)

    await asyncio.gather(
        talk(a, ["retry hello", "hello hello"]), talk(b, ["hi", "hello", "thanks"])
    )
    await asyncio.gather(a.aclose(), b.aclose())

    assert [t.llm_prompt_tokens for t in a.turns()] == [len("retry hello"), len("hello hello")]
    assert [t.llm_prompt_tokens for t in b.turns()] == [len("hi"), len("hello"), len("thanks")]
    assert all(t.llm_completion_tokens == 1 for t in a.turns() + b.turns())
    # a's retried request is a's recoverable error alone; b saw it relayed and kept nothing.
    (err,) = a.sink.of(ErrorRecord)
    assert (err.component, err.session_id) == ("llm", "a") and "a blip upstream" in err.message
    assert "a blip upstream" in (a.turns()[0].error or "")
    assert b.sink.of(ErrorRecord) == [] and all(t.error is None for t in b.turns())
    assert not a.faults.counts and not b.faults.counts  # livekit's retry absorbed it


async def test_an_assembler_belongs_to_one_session() -> None:
    turns = TurnAssembler()
    first: AgentSession = AgentSession(llm=ScriptedLLM())
    turns.attach(first)
    turns.attach(first)  # the mapping and the recorder may both attach it
    with pytest.raises(RuntimeError, match="already attached"):
        turns.attach(AgentSession(llm=ScriptedLLM()))
    turns.detach()


async def test_the_runtimes_hook_records_through_the_conversations_assembler(
    tmp_path: Path,
) -> None:
    """The server's and the worker's hook: the recorder takes the conversation's assembler
    (its event mapping's) instead of making figures a second time."""
    rt = MetricsRuntime(MetricsSpec(), store=SQLiteStore(tmp_path / "m.sqlite3"))
    await rt.start()
    userdata = SessionData(transport="websocket")
    session: AgentSession = AgentSession(llm=ScriptedLLM(), userdata=userdata)
    mapper = SessionEvents(session, userdata.events, take_voice_to_voice=lambda: 0.25)
    client: list[dict[str, Any]] = []
    userdata.events.subscribe(client.append)
    faults = Faults()
    live = SimpleNamespace(
        session_id=userdata.session_id,
        transport="websocket",
        agent_name="Causerie",
        session=session,
        userdata=userdata,
        faults=faults,
        conversation=SimpleNamespace(mapper=mapper),
    )
    rt.session_hook(live)
    assert [type(getattr(cb, "__self__", None)) for cb in mapper.turns.listeners] == [
        SessionCollector
    ]
    mapper.attach()
    await session.start(agent(faults))
    await session.run(user_input="hello")
    await session.aclose()
    mapper.detach()
    await rt.store.flush(5)
    s = await rt.store.get_session(userdata.session_id)
    assert s is not None and [t.voice_to_voice for t in s.turns] == [0.25]
    assert [e["voice_to_voice"] for e in client if e["type"] == "turn_metrics"] == [0.25]
    await rt.aclose()


class GatedLLM(ScriptedLLM):
    """The scripted brain, answering only once ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    def chat(self, *, chat_ctx: llm.ChatContext, **kw: Any) -> llm.LLMStream:
        stream = super().chat(chat_ctx=chat_ctx, **kw)
        run = stream._run

        async def gated_run() -> None:
            await self.gate.wait()
            await run()

        stream._run = gated_run  # type: ignore[method-assign]
        return stream


async def test_a_reply_still_going_on_when_the_user_leaves_is_recorded() -> None:
    model = GatedLLM()
    rec = Recorded("s1", model)
    asked = asyncio.Event()
    rec.session.on("conversation_item_added", lambda ev: ev.item.role == "user" and asked.set())
    await rec.start()
    rec.session.generate_reply(user_input="hello")
    await asyncio.wait_for(asked.wait(), 30)
    rec.collector.close("user_left")  # the peer hung up while the agent was thinking
    model.gate.set()
    await rec.aclose()
    (turn,) = rec.turns()
    assert (turn.user_text, turn.agent_text) == ("hello", None)
    assert [type(r).__name__ for r in rec.sink.records[-3:]] == [
        "TranscriptEntry",
        "TurnRecord",
        "SessionEnd",
    ]
    assert rec.sink.records[-1].outcome == "user_left"
