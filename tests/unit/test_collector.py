"""SessionCollector on real AgentSessions (text mode, the scripted LLM): turns, transcript,
tools, errors, sessions sharing providers, the transport's voice-to-voice, and a store that
goes down mid-conversation (real SQLite and Redis)."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import llm
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults
from causerie.agent.voice_agent import CauserieAgent
from causerie.events import EventChannel
from causerie.metrics.collector import SessionCollector, attach_metrics
from causerie.metrics.prometheus import PrometheusMetrics
from causerie.providers.local.scripted import ScriptedLLM
from causerie.providers.local.scripted.smalltalk import SmallTalk
from causerie.store import BufferedStore, SQLiteStore, Store, open_store
from causerie.store.observers import Observers
from causerie.store.records import (
    ErrorRecord,
    SessionEnd,
    SessionRecord,
    TranscriptEntry,
    TurnRecord,
)
from tests.fakes import FlakyLLM
from tests.waiting import until

from ..fixtures_metrics import Shop, Sink, broken_tool, get_weather
from ..fixtures_store import RedisServer, needs_redis_server, own_redis_server_fixture  # noqa: F401


class SlowLLM(ScriptedLLM):
    """The scripted brain; a user text containing 'slow' waits 0.25 s before answering."""

    def chat(self, *, chat_ctx: llm.ChatContext, **kw: Any) -> llm.LLMStream:
        stream = super().chat(chat_ctx=chat_ctx, **kw)
        if "slow" in (chat_ctx.items[-1].text_content or "") if chat_ctx.items else False:
            run = stream._run

            async def slow_run() -> None:
                await asyncio.sleep(0.25)
                await run()

            stream._run = slow_run  # type: ignore[method-assign]
        return stream


def agent(faults: Faults | None = None, greeting: str | None = None) -> CauserieAgent:
    return CauserieAgent(
        instructions="x",
        language="en",
        faults=faults or Faults(),
        max_response_time=5.0,
        greeting=greeting,
        tools=[get_weather, broken_tool],
    )


def collector(sink: Any, sid: str = "s1", transport: str = "text") -> SessionCollector:
    return SessionCollector(sink, session_id=sid, transport=transport, agent_name="Causerie")


async def converse(
    session: AgentSession, c: SessionCollector, texts: list[str], **kw: Any
) -> list[Any]:
    faults = kw.pop("faults", None) or Faults()
    attach_metrics(session, None, c, faults=faults)
    await session.start(agent(faults, **kw))
    results = []
    try:
        for text in texts:
            results.append(await session.run(user_input=text))
    finally:
        await session.aclose()
    return results


# -- what is recorded -----------------------------------------------------------------------


async def test_text_session_records_turns_transcript_and_end() -> None:
    sink = Sink()
    c = collector(sink)
    await converse(
        AgentSession(llm=ScriptedLLM()), c, ["hello", "what can you do"], greeting="Welcome!"
    )

    start = sink.records[0]
    assert isinstance(start, SessionRecord)
    assert (start.id, start.transport, start.agent_name) == ("s1", "text", "Causerie")
    assert start.providers["llm"] == "scripted/smalltalk"

    turns = sink.of(TurnRecord)
    assert [t.index for t in turns] == [1, 2, 3]
    greeting, hello, what = turns
    assert (greeting.user_text, greeting.agent_text) == (None, "Welcome!")  # agent-initiated
    assert hello.user_text == "hello" and hello.agent_text and hello.agent_text.startswith("Hello")
    assert what.user_text == "what can you do"
    for t in (hello, what):
        assert t.llm_ttft is not None and 0 <= t.llm_ttft < 1
        assert t.llm_duration is not None and t.llm_prompt_tokens == 0
        assert t.voice_to_voice is None  # text mode: no audio, no figure invented
        assert t.started_at <= (t.ended_at or 0) and not t.interrupted and t.error is None

    texts = [(e.role, e.text) for e in sink.of(TranscriptEntry)]
    assert ("user", "hello") in texts and ("assistant", "Welcome!") in texts
    assert texts.index(("user", "hello")) < texts.index(("user", "what can you do"))

    end = sink.records[-1]
    assert isinstance(end, SessionEnd) and end.outcome == "completed"
    assert c.closed and c.turns == 3


async def test_tool_calls_are_recorded_with_duration_and_outcome() -> None:
    sink = Sink()
    c = collector(sink)
    await converse(
        AgentSession(llm=ScriptedLLM(skills=[Shop(), SmallTalk()])),
        c,
        ["what is the weather", "use the broken one"],
    )
    weather, broken = sink.of(TurnRecord)
    (call,) = weather.tool_calls
    assert (call.name, json.loads(call.arguments), call.ok) == (
        "get_weather",
        {"city": "Paris"},
        True,
    )
    assert call.duration is not None and call.duration >= 0.015  # the tool sleeps that long
    assert weather.agent_text == "It is sunny in Paris."
    (bad,) = broken.tool_calls
    assert bad.name == "broken_tool" and not bad.ok and "catalogue is down" in (bad.error or "")
    errors = sink.of(ErrorRecord)
    assert [(e.component, e.provider) for e in errors] == [("tool", "broken_tool")]
    tools = [e.text for e in sink.of(TranscriptEntry) if e.role == "tool"]
    assert tools[0].startswith('get_weather({"city": "Paris"}) -> Paris')


async def test_llm_failure_is_one_error_and_the_conversation_goes_on() -> None:
    sink = Sink()
    c = collector(sink)
    results = await converse(AgentSession(llm=FlakyLLM({1})), c, ["hello", "hello"])
    assert results[1].events  # the second turn was answered
    first, second = sink.of(TurnRecord)
    assert first.error and "upstream exploded" in first.error
    assert second.error is None and second.agent_text and second.agent_text.startswith("Hello")
    errors = sink.of(ErrorRecord)
    # livekit's error event and the agent's fault are the same failure: counted once.
    assert len(errors) == 1 and errors[0].component == "llm"
    assert errors[0].provider == "scripted/smalltalk" and errors[0].session_id == "s1"


class OrderedCallbacks(dict[Any, None]):
    """A SpeechHandle's done-callback set, made ordered so a test can choose who runs first
    (livekit keeps them in a set: the order is whatever the hashes give)."""

    def add(self, cb: Any) -> None:
        self[cb] = None

    def discard(self, cb: Any) -> None:
        self.pop(cb, None)


@pytest.mark.parametrize("when", ["message", "speech_done_first", "speech_done_last"])
async def test_voice_to_voice_comes_from_the_transport(when: str) -> None:
    """A transport reports its measured figure as the reply's message is added (``talk``)
    or from its own done callback on the reply's speech (the browser transports), before or
    after the collector's own."""
    sink = Sink()
    c = collector(sink, transport="websocket")
    session: AgentSession = AgentSession(llm=ScriptedLLM())
    events = EventChannel()
    userdata = type("Userdata", (), {"events": events})()

    def report(*_: Any) -> None:
        events.emit("turn_metrics", turn=1, voice_to_voice=0.42, lk_e2e_latency=0.3)

    def order(ev: Any) -> None:
        ev.speech_handle._done_callbacks = OrderedCallbacks()

    def on_done(ev: Any) -> None:
        ev.speech_handle.add_done_callback(report)

    session.on("speech_created", order)
    if when == "speech_done_first":
        session.on("speech_created", on_done)
    attach_metrics(session, userdata, c)
    if when == "speech_done_last":
        session.on("speech_created", on_done)
    if when == "message":
        session.on("conversation_item_added", lambda ev: ev.item.role == "assistant" and report())

    await session.start(agent())
    await session.run(user_input="hello")
    await session.run(user_input="what can you do")
    await session.aclose()
    turns = sink.of(TurnRecord)
    assert [t.voice_to_voice for t in turns] == pytest.approx([0.42, 0.42])


async def test_close_outcome_from_the_transport_wins() -> None:
    sink = Sink()
    c = collector(sink)
    session: AgentSession = AgentSession(llm=ScriptedLLM())
    attach_metrics(session, None, c)
    await session.start(agent())
    await session.run(user_input="hello")
    c.close("user_left")  # the peer hung up: the transport knows first
    await session.aclose()
    ends = sink.of(SessionEnd)
    assert [e.outcome for e in ends] == ["user_left"]
    c.report_voice_to_voice(0.1)  # late calls are harmless
    assert len(sink.of(SessionEnd)) == 1


async def test_annotations_and_external_errors() -> None:
    sink = Sink()
    c = collector(sink)
    c.annotate({"sentiment": "positive"})
    c.record_error("transport", "peer vanished")
    assert {"sentiment": "positive"} in sink.records
    (err,) = sink.of(ErrorRecord)
    assert (err.component, err.session_id) == ("transport", "s1")


async def test_sessions_sharing_providers_are_not_mixed() -> None:
    """livekit relays a shared provider's metrics and errors to every session using it."""
    shared_llm = SlowLLM()
    sinks = {"a": Sink(), "b": Sink()}

    async def run(sid: str, texts: list[str]) -> None:
        await converse(AgentSession(llm=shared_llm), collector(sinks[sid], sid), texts)

    await asyncio.gather(
        run("a", ["slow hello", "slow hello"]), run("b", ["hello", "hello", "hello"])
    )
    a, b = (sinks[k].of(TurnRecord) for k in ("a", "b"))
    assert len(a) == 2 and len(b) == 3
    assert all(t.llm_ttft is not None and t.llm_ttft >= 0.2 for t in a)
    # b's own fast replies, never a's slow ones relayed to it.
    assert all(t.llm_ttft is not None for t in b)
    assert max(t.llm_ttft or 0 for t in b) < min(t.llm_ttft or 0 for t in a), [
        t.llm_ttft for t in b
    ]

    # An error from a shared provider, raised in session a's context, is a's alone.
    flaky = FlakyLLM({1})
    sinks = {"a": Sink(), "b": Sink()}

    async def run2(sid: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await converse(AgentSession(llm=flaky), collector(sinks[sid], sid), ["hello"])

    await asyncio.gather(run2("a", 0.0), run2("b", 0.05))
    assert len(sinks["a"].of(ErrorRecord)) == 1
    assert sinks["b"].of(ErrorRecord) == []


async def test_discarded_speech_writes_no_turn() -> None:
    sink = Sink()
    c = collector(sink)
    session: AgentSession = AgentSession(llm=ScriptedLLM())
    attach_metrics(session, None, c)
    await session.start(agent())
    handle = session.say("never mind", allow_interruptions=True)
    handle.interrupt(force=True)
    await asyncio.sleep(0.1)
    await session.aclose()
    turns = sink.of(TurnRecord)
    assert all(t.agent_text or t.user_text for t in turns)


# -- the store down mid-conversation: recorded through a real BufferedStore -----------------


class Outage:
    """A real backend failing while sessions run, then mended.

    * ``sqlite-readonly``: the store's own writer connection becomes read-only (``PRAGMA
      query_only``), so SQLite refuses every write with "attempt to write a readonly
      database", as for a read-only file or volume (as root, chmod would not do it).
    * ``sqlite-unreachable``: the store's folder is a regular file (a volume not mounted).
    * ``redis``: redis-server killed by PID, started again later on the same port.
    """

    def __init__(self, kind: str, tmp_path: Path, server: RedisServer | None) -> None:
        self.kind, self.server = kind, server
        self.folder = tmp_path / "volume"
        self.backend: Store | None = None

    def store(self) -> Store:
        if self.kind.startswith("sqlite"):
            self.backend = SQLiteStore(self.folder / "causerie.sqlite3", busy_timeout=0.05)
        else:
            assert self.server is not None
            self.backend = open_store(self.server.url + "?prefix=outage:")
        return self.backend

    async def _query_only(self, on: bool) -> None:
        assert isinstance(self.backend, SQLiteStore)
        await self.backend._write(lambda conn: conn.execute(f"PRAGMA query_only={int(on)}"))

    async def down(self) -> None:
        if self.kind == "sqlite-readonly":
            await self._query_only(True)
        elif self.kind == "sqlite-unreachable":
            self.folder.write_text("not a folder")
        else:
            assert self.server is not None
            self.server.kill()

    async def up(self) -> None:
        if self.kind == "sqlite-readonly":
            await self._query_only(False)
        elif self.kind == "sqlite-unreachable":
            self.folder.unlink()
        else:
            assert self.server is not None
            self.server.start()


@pytest.fixture(
    params=[
        "sqlite-readonly",
        "sqlite-unreachable",
        pytest.param("redis", marks=needs_redis_server),
    ]
)
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Outage:
    server = request.getfixturevalue("own_redis_server") if request.param == "redis" else None
    return Outage(request.param, tmp_path, server)


async def test_store_down_the_conversation_goes_on(outage: Outage) -> None:
    bound = 12
    prom = PrometheusMetrics()
    store = BufferedStore(
        outage.store(),
        max_pending=bound,
        retry_initial=0.01,
        retry_max=0.05,
        observers=Observers(prom.observe),
    )
    prom.track_store(store)
    if outage.kind == "sqlite-unreachable":
        await (
            outage.down()
        )  # down from the start: an open SQLite file outlives its folder's removal
    else:
        await store.open()
        await converse(AgentSession(llm=ScriptedLLM()), collector(store, "before"), ["hello"])
        assert await store.flush(5) and store.written > 0
        await outage.down()
    written_before = store.written

    # The voice path: every collector write is a plain deque append (no await on the backend),
    # and the conversation goes on while the backend is down.
    assert not inspect.iscoroutinefunction(store._put)
    results = await asyncio.wait_for(
        converse(
            AgentSession(llm=ScriptedLLM()),
            collector(store, "during"),
            ["hello", "what can you do", "hello", "thanks", "hello", "bye"],
        ),
        60,
    )
    assert all(r.events for r in results), "a turn went unanswered"

    await until(lambda: store.failures >= 1, "the drain task to fail on the dead backend")
    assert not store.healthy and store.last_error
    # 1 start + 6 turns + 12 transcript entries + 1 end = 20 records; 12 fit the buffer.
    assert store.pending == bound
    assert store.dropped == 20 - bound
    assert store.written == written_before

    prom.sync_stores()
    values = {m.name: m for m in prom.registry.collect()}
    assert values["causerie_store_dropped"].samples[0].value == store.dropped
    assert values["causerie_store_healthy"].samples[0].value == 0
    assert values["causerie_store_write_failures"].samples[0].value == store.failures

    await outage.up()
    assert await store.flush(15), f"not recovered: {store.last_error}"
    assert store.healthy
    during = await store.get_session("during")
    assert during is not None and during.outcome == "active"  # its end was dropped
    assert [t.index for t in during.turns] == [1, 2, 3]  # the oldest records are kept
    await store.aclose()


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [("participant_left", "user_left"), ("room_disconnected", "error"), ("cancelled", "completed")],
)
async def test_runtime_session_hook_records_a_transport_session(
    tmp_path: Path, reason: str, outcome: str
) -> None:
    """The hook the browser server and the LiveKit worker call with their session objects."""
    from causerie.config.spec import MetricsSpec
    from causerie.metrics.runtime import MetricsRuntime
    from causerie.userdata import SessionData

    rt = MetricsRuntime(MetricsSpec(), store=SQLiteStore(tmp_path / "hook.sqlite3"))
    await rt.start()
    userdata = SessionData(transport="livekit")
    faults = Faults()
    live = type("RoomSessionLike", (), {})()
    live.session_id, live.transport, live.agent_name = userdata.session_id, "livekit", "Shop"
    live.session = AgentSession(llm=ScriptedLLM(), userdata=userdata)
    live.userdata, live.faults, live.on_end = userdata, faults, []
    rt.session_hook(live)
    await live.session.start(agent(faults))
    await live.session.run(user_input="hello")
    userdata.events.emit("turn_metrics", turn=1, voice_to_voice=0.3)  # too late: turn written
    for cb in live.on_end:
        cb(reason)
    await live.session.aclose()
    await rt.store.flush(5)
    s = await rt.store.get_session(userdata.session_id)
    assert s is not None and (s.transport, s.agent_name, s.outcome) == ("livekit", "Shop", outcome)
    assert [t.user_text for t in s.turns] == ["hello"] and s.turns[0].voice_to_voice is None
    await rt.aclose()


async def test_plugin_annotations_reach_the_session_record() -> None:
    """A plugin's verdict (sentiment) lands in the session record, through the same
    attach_metrics every transport calls."""
    from causerie.agent.session import build_agent
    from causerie.config import load_config
    from causerie.userdata import SessionData

    loaded = load_config(None, environ={"ENABLED_PLUGINS": "sentiment_analysis"}, dotenv=None)
    sink = Sink()
    c = collector(sink)
    userdata = SessionData()
    session: AgentSession = AgentSession(llm=ScriptedLLM(), userdata=userdata)
    attach_metrics(session, userdata, c)
    await session.start(build_agent(loaded, Faults()))
    try:
        await session.run(user_input="This is terrible, I am angry, nothing works, I hate it!")
    finally:
        await session.aclose()
    notes = [r for r in sink.records if isinstance(r, dict)]
    assert notes and notes[-1]["emotion_last"] != "neutral"
    assert notes[-1]["sentiment_last"] < 0
