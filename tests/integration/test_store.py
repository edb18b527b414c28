"""The store contract, run on real SQLite files and a real redis-server, plus what only
one backend has (SQLite crash safety and migrations) and BufferedStore over a backend that
goes down and comes back."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from causerie.errors import CauserieError
from causerie.store import (
    AgentHistory,
    BufferedStore,
    MemoryRecord,
    MemoryStore,
    RecordReader,
    RecordWriter,
    Retention,
    SQLiteStore,
    Store,
    open_store,
)
from causerie.store.observers import Observers
from causerie.store.records import (
    ErrorRecord,
    SessionEnd,
    SessionRecord,
    ToolCall,
    TranscriptEntry,
    TurnRecord,
)
from causerie.store.sqlite import MIGRATIONS, SCHEMA_VERSION, migrate
from tests.waiting import until

from ..fixtures_store import (  # noqa: F401 - the *_fixture imports register fixtures
    RedisServer,
    StoreFactory,
    make_store_fixture,
    needs_redis_server,
    own_redis_server_fixture,
    redis_server_fixture,
    store_fixture,
)

T0 = 1_700_000_000.0
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def session(sid: str, at: float = T0, **kw: object) -> SessionRecord:
    defaults: dict[str, object] = {"transport": "websocket", "agent_name": "Causerie"}
    return SessionRecord(id=sid, started_at=at, **{**defaults, **kw})  # type: ignore[arg-type]


def turn(sid: str, i: int, at: float | None = None, **kw: object) -> TurnRecord:
    return TurnRecord(session_id=sid, index=i, started_at=T0 + i if at is None else at, **kw)  # type: ignore[arg-type]


# -- the contract, on both backends ---------------------------------------------------------


async def test_round_trip(store: Store) -> None:
    s = session(
        "s1",
        providers={"stt": "pocketsphinx/en-us", "llm": "scripted/default", "tts": "espeak/en"},
        annotations={"sentiment": {"score": 0.4}},
        transcript=[TranscriptEntry("assistant", "Hello, how can I help?", T0)],
    )
    await store.start_session(s)
    t0 = turn(
        "s1",
        0,
        ended_at=T0 + 2.5,
        user_text="what's the weather",
        agent_text="Sunny.",
        stt_duration=0.4,
        stt_final_delay=0.12,
        end_of_utterance_delay=0.3,
        llm_ttft=0.05,
        llm_duration=0.2,
        llm_prompt_tokens=120,
        llm_completion_tokens=8,
        tts_ttfb=0.01,
        tts_duration=0.9,
        tool_calls=[ToolCall("weather", '{"city": "Paris"}', 0.02, True, None)],
        voice_to_voice=0.76,
        lk_e2e_latency=0.66,
    )
    t1 = turn(
        "s1",
        1,
        interrupted=True,
        error="tts timeout",
        tool_calls=[ToolCall("cart", "{}", None, False, "no such item")],
    )
    await store.add_turn(t1)  # out of order on purpose
    await store.add_turn(t0)
    await store.add_transcript_entry("s1", TranscriptEntry("user", "what's the weather", T0 + 1))
    await store.add_transcript_entry("s1", TranscriptEntry("assistant", "Sunny.", T0 + 2))
    await store.annotate_session("s1", {"language": "en"})
    assert await store.count_active() == 1

    got = await store.get_session("s1")
    assert got is not None
    assert got.turns == [t0, t1]
    assert [(e.role, e.text) for e in got.transcript] == [
        ("assistant", "Hello, how can I help?"),
        ("user", "what's the weather"),
        ("assistant", "Sunny."),
    ]
    assert got.providers == s.providers
    assert got.annotations == {"sentiment": {"score": 0.4}, "language": "en"}
    assert got.turn_count == 2
    assert (got.outcome, got.ended_at, got.duration) == ("active", None, None)
    # What comes back is JSON-safe and survives a trip through JSON.
    assert SessionRecord.from_json(json.dumps(got.to_dict())) == got

    await store.end_session("s1", "error", "llm unreachable", ended_at=T0 + 60)
    got = await store.get_session("s1")
    assert got is not None
    assert (got.outcome, got.error, got.ended_at, got.duration) == (
        "error",
        "llm unreachable",
        T0 + 60,
        60.0,
    )
    assert await store.count_active() == 0
    assert await store.get_session("nope") is None


async def test_upsert_and_idempotent_turns(store: Store) -> None:
    await store.start_session(session("s1", agent_name="A"))
    await store.add_turn(turn("s1", 0, llm_ttft=1.0))
    await store.add_turn(turn("s1", 0, llm_ttft=2.0))  # a retried write replaces
    await store.start_session(session("s1", agent_name="B"))  # restart keeps turns
    got = await store.get_session("s1")
    assert got is not None
    assert got.agent_name == "B"
    assert [t.llm_ttft for t in got.turns] == [2.0]
    assert got.turn_count == 1


async def test_writes_for_unknown_or_deleted_session_are_ignored(store: Store) -> None:
    await store.add_turn(turn("ghost", 0))
    await store.add_transcript_entry("ghost", TranscriptEntry("user", "boo"))
    await store.annotate_session("ghost", {"a": 1})
    await store.end_session("ghost")
    assert await store.get_session("ghost") is None
    assert await store.turns_between(0) == []

    await store.start_session(session("s1"))
    assert await store.delete_session("s1")
    await store.add_turn(turn("s1", 3))  # late record after deletion
    await store.end_session("s1")
    assert await store.get_session("s1") is None
    assert (await store.list_sessions()).total == 0


async def test_pagination_and_filters(store: Store) -> None:
    for i in range(25):
        await store.start_session(
            session(
                f"s{i:02d}",
                at=T0 + i,
                transport="webrtc" if i % 2 else "websocket",
                agent_name="Shop" if i % 3 == 0 else "Causerie",
            )
        )
        if i % 5 == 0:
            await store.end_session(f"s{i:02d}", "user_left", ended_at=T0 + i + 1)
    await store.add_transcript_entry("s07", TranscriptEntry("user", "I want a CRÈME brûlée"))
    await store.add_transcript_entry("s12", TranscriptEntry("assistant", "crème, sure"))

    pages: list[list[str]] = []
    offset: int | None = 0
    while offset is not None:
        page = await store.list_sessions(limit=10, offset=offset)
        assert page.total == 25
        assert all(not s.turns and not s.transcript for s in page.items)
        pages.append([s.id for s in page.items])
        offset = page.next_offset
    assert [len(p) for p in pages] == [10, 10, 5]
    assert list(itertools.chain(*pages)) == [
        f"s{i:02d}" for i in reversed(range(25))
    ]  # newest first

    async def ids(**kw: object) -> list[str]:
        page = await store.list_sessions(limit=100, **kw)  # type: ignore[arg-type]
        assert page.total == len(page.items)
        return [s.id for s in page.items]

    assert await ids(transport="webrtc") == [f"s{i:02d}" for i in reversed(range(1, 25, 2))]
    assert await ids(outcome="user_left") == ["s20", "s15", "s10", "s05", "s00"]
    assert await ids(outcome="user_left", agent_name="Shop") == ["s15", "s00"]
    assert await ids(since=T0 + 10, until=T0 + 13) == ["s12", "s11", "s10"]  # half-open
    assert await ids(text="crème") == ["s12", "s07"]  # case-insensitive, not only ASCII
    assert await ids(text="brûlée", transport="webrtc") == ["s07"]
    assert await ids(text="nothing like it") == []

    page = await store.list_sessions(limit=2, offset=1, transport="websocket", since=T0 + 4)
    assert ([s.id for s in page.items], page.total, page.next_offset) == (
        ["s22", "s20"],
        11,
        3,
    )
    with pytest.raises(ValueError):
        await store.list_sessions(limit=0)
    with pytest.raises(ValueError):
        await store.list_sessions(offset=-1)


async def test_delete_session(store: Store) -> None:
    for sid in ("a", "b"):
        await store.start_session(session(sid))
        await store.add_turn(turn(sid, 0))
        await store.add_transcript_entry(sid, TranscriptEntry("user", "hi"))
        await store.add_error(ErrorRecord("llm", f"boom {sid}", T0, session_id=sid))
    assert await store.delete_session("a") is True
    assert await store.delete_session("a") is False
    assert await store.get_session("a") is None
    assert [t.session_id for t in await store.turns_between(0)] == ["b"]
    assert [e.message for e in await store.list_errors()] == ["boom b"]
    assert await store.list_errors(session_id="a") == []
    assert (await store.list_sessions()).total == 1


async def test_turns_between_and_percentiles(store: Store) -> None:
    await store.start_session(session("s1"))
    for i in range(10):
        await store.add_turn(turn("s1", i, voice_to_voice=0.1 * (i + 1) if i != 4 else None))
    window = await store.turns_between(T0 + 2, T0 + 8)
    assert [t.index for t in window] == [2, 3, 4, 5, 6, 7]
    assert [t.index for t in await store.turns_between(T0 + 8)] == [8, 9]
    assert [t.index for t in await store.turns_between(T0, limit=3)] == [0, 1, 2]

    p = await store.percentiles("voice_to_voice", T0 + 2, T0 + 8)
    assert p["count"] == 5  # the turn without a figure is not counted
    assert p["p50"] == pytest.approx(0.6)
    assert p["p90"] == pytest.approx(0.76)
    empty = await store.percentiles("llm_ttft", T0)
    assert empty == {"p50": None, "p90": None, "p99": None, "count": 0}
    with pytest.raises(ValueError, match="unknown turn metric"):
        await store.percentiles("bogus", T0)


async def test_errors(store: Store) -> None:
    await store.start_session(session("s1"))
    for i in range(5):
        await store.add_error(ErrorRecord("tts", "same message", T0 + i, "s1", "espeak"))
    await store.add_error(ErrorRecord("transport", "socket closed", T0 + 10))
    await store.add_error(ErrorRecord("llm", "unknown session", T0 + 11, "never-started"))

    errors = await store.list_errors()
    assert [e.at for e in errors] == [T0 + 11, T0 + 10, T0 + 4, T0 + 3, T0 + 2, T0 + 1, T0]
    assert errors[1] == ErrorRecord("transport", "socket closed", T0 + 10)
    assert len(await store.list_errors(session_id="s1")) == 5  # identical ones all kept
    assert [e.at for e in await store.list_errors(session_id="s1", since=T0 + 1, until=T0 + 3)] == [
        T0 + 2,
        T0 + 1,
    ]
    assert [e.at for e in await store.list_errors(since=T0 + 4, limit=2)] == [T0 + 11, T0 + 10]
    assert [e.message for e in await store.list_errors(session_id="never-started")] == [
        "unknown session"
    ]


async def test_retention(store: Store) -> None:
    day = 86400.0
    now = T0 + 100 * day
    for i in range(10):  # one session a day, days 90..99
        sid = f"s{i}"
        await store.start_session(session(sid, at=T0 + (90 + i) * day))
        await store.add_turn(turn(sid, 0, at=T0 + (90 + i) * day))
        await store.add_error(ErrorRecord("llm", "x", T0 + (90 + i) * day, sid))
    await store.add_error(ErrorRecord("transport", "old", T0))

    assert await store.apply_retention(max_age_days=5.5, now=now) == 5  # days 90..94 go
    page = await store.list_sessions()
    assert [s.id for s in page.items] == ["s9", "s8", "s7", "s6", "s5"]
    assert len(await store.turns_between(0)) == 5
    assert len(await store.list_errors()) == 5  # the old unattached one too

    assert await store.apply_retention(max_sessions=2) == 3
    assert [s.id for s in (await store.list_sessions()).items] == ["s9", "s8"]
    assert [t.session_id for t in await store.turns_between(0)] == ["s8", "s9"]
    assert {e.session_id for e in await store.list_errors()} == {"s8", "s9"}
    assert await store.apply_retention(max_age_days=30, max_sessions=10, now=now) == 0
    with pytest.raises(ValueError):
        await store.apply_retention(max_sessions=-1)


async def test_transcripts_off(make_store: StoreFactory) -> None:
    store = await make_store(transcripts=False)
    await store.start_session(
        session("s1", transcript=[TranscriptEntry("assistant", "Hello Alice")])
    )
    await store.add_turn(
        turn(
            "s1",
            0,
            user_text="my card is 4242",
            agent_text="noted",
            llm_ttft=0.2,
            tool_calls=[ToolCall("pay", '{"card": "4242"}', 0.1)],
        )
    )
    await store.add_transcript_entry("s1", TranscriptEntry("user", "my card is 4242"))
    got = await store.get_session("s1")
    assert got is not None
    assert got.transcript == []
    (t,) = got.turns
    assert (t.user_text, t.agent_text, t.llm_ttft) == (None, None, 0.2)
    assert (t.tool_calls[0].name, t.tool_calls[0].arguments, t.tool_calls[0].duration) == (
        "pay",
        "{}",
        0.1,
    )
    assert (await store.list_sessions(text="4242")).total == 0


async def test_concurrent_writers(make_store: StoreFactory) -> None:
    # Two stores on the same data: two workers (connections) writing at once.
    a, b = await make_store(), await make_store()
    sessions, turns = 20, 25

    async def worker(s: Store, sid: str) -> None:
        await s.start_session(session(sid))
        await asyncio.gather(*(s.add_turn(turn(sid, i)) for i in range(turns)))
        await asyncio.gather(
            *(
                s.add_transcript_entry(sid, TranscriptEntry("user", f"{i}", T0 + i))
                for i in range(5)
            )
        )
        await s.end_session(sid, "completed")

    await asyncio.gather(*(worker(a if n % 2 else b, f"s{n}") for n in range(sessions)))
    assert len(await a.turns_between(0)) == sessions * turns
    page = await b.list_sessions(limit=100)
    assert page.total == sessions
    assert {s.turn_count for s in page.items} == {turns}
    assert {s.outcome for s in page.items} == {"completed"}
    assert await a.count_active() == 0
    got = await a.get_session("s7")
    assert got is not None and len(got.transcript) == 5


async def test_buffered_store_observers(make_store: StoreFactory) -> None:
    seen: list[object] = []

    def broken(record: object) -> None:
        raise RuntimeError("observer bug")

    observers = Observers(broken, seen.append)
    buffered = BufferedStore(await make_store(), observers=observers)
    buffered.start_session_nowait(session("s1"))
    buffered.add_turn_nowait(turn("s1", 0))
    buffered.add_error_nowait(ErrorRecord("llm", "x", T0, "s1"))
    buffered.end_session_nowait("s1", "completed", ended_at=T0 + 9)
    assert [type(r) for r in seen] == [SessionRecord, TurnRecord, ErrorRecord, SessionEnd]
    assert observers.errors == 4
    assert await buffered.flush(5)
    got = await buffered.get_session("s1")
    assert got is not None and got.turn_count == 1 and got.ended_at == T0 + 9
    assert (buffered.written, buffered.failures, buffered.dropped) == (4, 0, 0)
    await buffered.aclose()


async def test_buffered_store_drops_a_bad_record_and_carries_on(make_store: StoreFactory) -> None:
    buffered = BufferedStore(await make_store())
    buffered.start_session_nowait(session("s1"))
    buffered.add_turn_nowait(turn("s1", 0, user_text=object()))  # not JSON: refused for good
    buffered.add_turn_nowait(turn("s1", 1))
    assert await buffered.flush(5)
    assert (buffered.written, buffered.failures, buffered.dropped) == (2, 1, 1)
    assert buffered.last_error is not None and "TypeError" in buffered.last_error
    got = await buffered.get_session("s1")
    assert got is not None and [t.index for t in got.turns] == [1]
    await buffered.aclose()


async def test_buffered_aclose_flushes(make_store: StoreFactory) -> None:
    buffered = BufferedStore(await make_store(name="shared"))
    buffered.start_session_nowait(session("s1"))
    for i in range(50):
        buffered.add_turn_nowait(turn("s1", i))
    await buffered.aclose()
    assert buffered.pending == 0 and buffered.written == 51
    assert buffered.add_turn_nowait(turn("s1", 99)) is False  # closed: counted, not raised
    assert buffered.dropped == 1
    reader = await make_store(name="shared")
    got = await reader.get_session("s1")
    assert got is not None and got.turn_count == 50


async def test_buffered_store_wraps_a_backend_and_is_durable_after_flush(
    make_store: StoreFactory,
) -> None:
    """Not a backend itself: it offers the narrow interfaces over one, and a write it took
    is in the backend only once the drain task wrote it (flush), not when the call returns."""
    backend = await make_store()
    buffered = BufferedStore(backend)
    assert not isinstance(buffered, Store) and buffered.backend is backend
    for interface in (RecordWriter, RecordReader, MemoryStore, AgentHistory, Retention):
        assert isinstance(buffered, interface) and isinstance(backend, interface)
    writer: RecordWriter = buffered  # and so for mypy
    reader: RecordReader = buffered
    gate = asyncio.Event()  # holds the backend's write until the test lets it through
    write = backend.start_session

    async def held(s: SessionRecord) -> None:
        await gate.wait()
        await write(s)

    backend.start_session = held  # type: ignore[method-assign,assignment]
    await writer.start_session(session("s1"))  # returned: taken, not stored
    assert buffered.pending == 1 and await backend.get_session("s1") is None
    assert not await buffered.flush(0.05)  # not durable while the backend has not written
    gate.set()
    assert await buffered.flush(5)
    got = await reader.get_session("s1")
    assert got is not None and buffered.written == 1 and buffered.pending == 0
    await buffered.aclose()


# -- memory per user identity, on both backends ---------------------------------------------


def said(*texts: str) -> list[TranscriptEntry]:
    return [
        TranscriptEntry("user" if i % 2 == 0 else "assistant", t, T0 + i)
        for i, t in enumerate(texts)
    ]


async def test_memory_round_trip(store: Store) -> None:
    assert await store.get_memory("alice") is None
    await store.remember(
        "alice",
        facts={"name": "Alice", "allergies": ["nuts"]},
        exchanges=said("hi", "hello"),
        at=T0,
    )
    got = await store.get_memory("alice")
    assert got == MemoryRecord(
        "alice", {"name": "Alice", "allergies": ["nuts"]}, said("hi", "hello"), T0
    )
    # Facts merge key by key (a key is replaced whole, None removes it); exchanges append
    # and only the last `keep` stay, oldest first.
    await store.remember(
        "alice",
        facts={"allergies": ["nuts", "gluten"], "name": None, "preferences": ["organic"]},
        exchanges=said("a", "b", "c"),
        keep=4,
        at=T0 + 9,
    )
    got = await store.get_memory("alice")
    assert got is not None and got.updated_at == T0 + 9
    assert got.facts == {"allergies": ["nuts", "gluten"], "preferences": ["organic"]}
    assert [e.text for e in got.exchanges] == ["hello", "a", "b", "c"]
    await store.remember("alice", facts={"name": "Al"}, keep=0)  # keep=0: no exchange left
    got = await store.get_memory("alice")
    assert got is not None and got.exchanges == [] and got.facts["name"] == "Al"
    await store.remember("alice")  # nothing to write: a no-op
    assert await store.get_memory("bob") is None  # identities are apart
    assert await store.forget("alice") is True
    assert await store.get_memory("alice") is None
    assert await store.forget("alice") is False
    with pytest.raises(ValueError):
        await store.remember("", facts={"x": 1})
    with pytest.raises(ValueError):
        await store.remember("alice", facts={"x": 1}, keep=-1)
    # Typed keywords (TypedDict): a misspelt one is an error naming the allowed ones.
    with pytest.raises(TypeError, match="fact; allowed: at, exchanges, facts, keep"):
        await store.remember("alice", fact={"x": 1})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="agent; allowed: agent_name"):
        await store.list_sessions(agent="a")  # type: ignore[call-arg]


async def test_memory_is_apart_from_sessions(store: Store) -> None:
    await store.start_session(session("s1", at=T0))
    await store.remember("u", facts={"name": "Ann"}, exchanges=said("hi"), at=T0)
    assert await store.delete_session("s1")
    assert await store.apply_retention(max_age_days=0, max_sessions=0, now=T0 + 1e6) == 0
    got = await store.get_memory("u")
    assert got is not None and got.facts == {"name": "Ann"}  # neither deletes touch memory
    await store.remember("u:1", facts={"name": "colon"})  # any text is an identity
    got = await store.get_memory("u")
    assert got is not None and got.facts == {"name": "Ann"}


async def test_memory_transcripts_off(make_store: StoreFactory) -> None:
    store = await make_store(transcripts=False)
    await store.remember("u", exchanges=said("my card is 4242"))
    assert await store.get_memory("u") is None  # only text: nothing written
    await store.remember("u", facts={"allergies": ["nuts"]}, exchanges=said("I'm allergic"))
    got = await store.get_memory("u")
    assert got is not None and got.facts == {"allergies": ["nuts"]} and got.exchanges == []


async def test_memory_shared_by_two_workers(make_store: StoreFactory) -> None:
    a, b = await make_store(name="shared"), await make_store(name="shared")
    await a.remember("u", facts={"name": "Ann"}, exchanges=said("hi", "hello"))
    got = await b.get_memory("u")
    assert got is not None and got.facts == {"name": "Ann"} and len(got.exchanges) == 2
    # Concurrent writers for one identity: every exchange lands, none is lost or torn.
    await asyncio.gather(
        *(
            (a if i % 2 else b).remember("u", facts={f"k{i}": i}, exchanges=said(f"x{i}"), keep=100)
            for i in range(20)
        )
    )
    got = await a.get_memory("u")
    assert got is not None
    assert {f"k{i}" for i in range(20)} <= set(got.facts) and len(got.exchanges) == 22
    assert await b.forget("u") and await a.get_memory("u") is None


async def test_buffered_store_memory(make_store: StoreFactory) -> None:
    backend = await make_store()
    buffered = BufferedStore(backend)
    assert buffered.remember_nowait("u", facts={"name": "Ann"}, exchanges=said("hi"), at=T0)
    await buffered.remember("u", facts={"name": "Bea"}, keep=5)
    assert await buffered.flush(5)
    got = await buffered.get_memory("u")
    assert (
        got is not None
        and got.facts == {"name": "Bea"}
        and [e.text for e in got.exchanges] == ["hi"]
    )
    buffered.remember_nowait("u", facts={"name": "Cy"})
    assert await buffered.forget("u")  # flushes first: the buffered write cannot come back
    assert await buffered.flush(5) and await backend.get_memory("u") is None
    with pytest.raises(ValueError):
        buffered.remember_nowait("", facts={"x": 1})
    await buffered.aclose()


# -- the conversation_memory plugin across sessions and workers -------------------------------


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=needs_redis_server)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store URL that several workers open, each with its own store instance."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'workers.sqlite3'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix=t{uuid.uuid4().hex[:8]}:"


async def test_memory_plugin_across_two_workers(shared_url: str, tmp_path: Path) -> None:
    from causerie.plugins import PluginHost, PluginStores
    from causerie.userdata import SessionData

    # Two worker processes: each keeps its own stores (connections) for all its sessions.
    workers = [PluginStores(shared_url), PluginStores(shared_url)]
    assert workers[0].get() is not workers[1].get()

    async def session(worker: int, said: str, heard: str, **facts: object) -> list[str]:
        host = PluginHost(
            names=["conversation_memory"],
            data_dir=tmp_path,
            stores=workers[worker],
            own_stores=False,
        )
        s = host.new_session(
            SessionData(identity="alice"), lambda: [("user", said), ("assistant", heard)]
        )
        notes = await host.session_start(s)  # CauserieAgent.on_enter
        s.state["memory"].update(facts)  # what session_memory_update does
        await host.session_end(s)  # CauserieAgent.on_exit
        await host.aclose()
        return notes

    assert await session(0, "I'm Alice", "Hello Alice", name="Alice", allergies=["nuts"]) == []
    [note] = await session(1, "bread?", "Walnut bread (nuts)", preferences=["organic"])
    assert "name: Alice" in note and "allergies: nuts" in note and "user: I'm Alice" in note
    [note] = await session(0, "bye", "Goodbye")  # back on the first worker: sees the second's
    assert "preferences: organic" in note and "Walnut bread" in note
    for w in workers:
        await w.aclose()
    async with open_store(shared_url) as third:
        got = await third.get_memory("alice")
    assert got is not None
    assert got.facts == {"name": "Alice", "allergies": ["nuts"], "preferences": ["organic"]}
    assert [e.text for e in got.exchanges] == [
        "I'm Alice",
        "Hello Alice",
        "bread?",
        "Walnut bread (nuts)",
        "bye",
        "Goodbye",
    ]


async def test_memory_scenario_through_the_store(shared_url: str) -> None:
    """The shipped memory scenario (real agent, scripted LLM, the session_memory_update tool)
    with its store on this backend: each session builds its agent and opens its own store,
    as a session on another worker would."""
    from causerie.providers.registry import Registry
    from causerie.scenarios import load_scenario, run_scenario
    from causerie.scenarios.report import format_result

    scn = load_scenario(SCENARIOS / "memory.yaml")
    scn.set["metrics.store_url"] = shared_url
    res = await run_scenario(scn, default_config=None, registry=Registry.from_entry_points())
    assert res.passed, format_result(res)
    async with open_store(shared_url) as store:
        alice = await store.get_memory("alice-42")
        other = await store.get_memory("someone-else")
    assert other is not None and other.facts == {} and len(other.exchanges) == 2  # told nothing
    assert alice is not None and alice.facts == {"name": "Alice", "allergies": ["nuts"]}
    assert alice.exchanges[-1].text.startswith("I found")  # the last of the second session


# -- BufferedStore with a backend that goes down and comes back -----------------------------


class Outage:
    """Makes a real backend fail while the store is in use, then mends it.

    * ``sqlite-locked``: another process holds the write lock (a backup, a long retention
      run), so writes fail with "database is locked" once ``busy_timeout`` runs out.
    * ``sqlite-unreachable``: the store's folder is a regular file, as when a volume is not
      mounted; this works as root, unlike a read-only chmod. Down from the first write.
    * ``redis``: redis-server is killed by PID, then started again on the same port (empty:
      it runs without persistence), so the client's pooled connections are all dead.
    * ``sqlite-readonly``: the folder is a tmpfs mounted read-only (a volume mounted ro; as
      root, a chmod would not stop the writes). Linux refuses to remount a filesystem
      read-only while a file on it is open for writing, so it is read-only from the start,
      and writable again later.
    * ``sqlite-full``: the folder is a 1 MB tmpfs, filled up by another file mid-test.
    The tmpfs kinds need ``mount`` (root): skipped where it is refused.
    """

    def __init__(self, kind: str, tmp_path: Path, server: RedisServer | None) -> None:
        self.kind, self.server = kind, server
        self.folder = tmp_path / "volume"
        self.lock: sqlite3.Connection | None = None
        self.mid_test = kind not in ("sqlite-unreachable", "sqlite-readonly")
        self.mounted = False
        if kind in ("sqlite-readonly", "sqlite-full"):
            self.folder.mkdir()
            mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(self.folder)]
            if subprocess.run(mount, capture_output=True).returncode != 0:
                pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
            self.mounted = True

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.folder)], check=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=True)
            self.mounted = False

    def integrity(self) -> str | None:
        """PRAGMA integrity_check of the SQLite file (None for Redis)."""
        if not self.kind.startswith("sqlite"):
            return None
        with sqlite3.connect(self.folder / "causerie.sqlite3") as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    def store(self) -> Store:
        if self.kind.startswith("sqlite"):
            return SQLiteStore(self.folder / "causerie.sqlite3", busy_timeout=0.05)
        assert self.server is not None
        return open_store(self.server.url + "?prefix=outage:")

    def down(self) -> None:
        if self.kind == "sqlite-locked":
            self.lock = sqlite3.connect(self.folder / "causerie.sqlite3", isolation_level=None)
            self.lock.execute("BEGIN EXCLUSIVE")
        elif self.kind == "sqlite-unreachable":
            self.folder.write_text("not a folder")
        elif self.kind == "sqlite-readonly":
            self.remount("ro")
        elif self.kind == "sqlite-full":
            with open(self.folder / "filler", "wb") as f:
                try:
                    while True:
                        f.write(bytes(64 * 1024))
                        f.flush()
                except OSError:  # ENOSPC: full
                    pass
        else:
            assert self.server is not None
            self.server.kill()

    def up(self) -> None:
        if self.kind == "sqlite-locked":
            assert self.lock is not None
            self.lock.execute("ROLLBACK")
            self.lock.close()
        elif self.kind == "sqlite-unreachable":
            self.folder.unlink()
        elif self.kind == "sqlite-readonly":
            self.remount("rw")
        elif self.kind == "sqlite-full":
            (self.folder / "filler").unlink()
        else:
            assert self.server is not None
            self.server.start()


@pytest.fixture(
    params=[
        "sqlite-locked",
        "sqlite-unreachable",
        "sqlite-readonly",
        "sqlite-full",
        pytest.param("redis", marks=needs_redis_server),
    ]
)
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    server = request.getfixturevalue("own_redis_server") if request.param == "redis" else None
    o = Outage(request.param, tmp_path, server)
    yield o
    o.unmount()


async def test_buffered_store_survives_backend_outage(outage: Outage) -> None:
    bound = 20
    buffered = BufferedStore(outage.store(), max_pending=bound, retry_initial=0.01, retry_max=0.05)
    if outage.mid_test:  # the backend works at first
        buffered.start_session_nowait(session("before"))
        buffered.add_turn_nowait(turn("before", 0))
        assert await buffered.flush(5)
        assert buffered.written == 2
    written_before = buffered.written
    outage.down()
    # Enqueueing is a plain call: the voice path cannot await the dead backend.
    assert not inspect.iscoroutinefunction(buffered.add_turn_nowait)
    buffered.start_session_nowait(session("s1"))
    for i in range(bound + 10):
        buffered.add_turn_nowait(turn("s1", i))
        await asyncio.sleep(0.005)  # let the drain task try meanwhile
    await until(lambda: buffered.failures >= 1, "the drain task to fail on the dead backend")
    assert buffered.pending == bound
    assert buffered.dropped == 11  # the session start and 19 turns fit, 11 turns did not
    assert buffered.failures >= 1
    assert not buffered.healthy
    assert buffered.last_error
    assert buffered.written == written_before

    outage.up()
    assert await buffered.flush(15), f"not recovered: {buffered.last_error}"
    assert buffered.healthy and buffered.written == written_before + bound
    got = await buffered.get_session("s1")
    assert got is not None
    assert [t.index for t in got.turns] == list(range(bound - 1))
    if outage.mid_test and outage.kind.startswith("sqlite"):  # what was written is kept
        # (the test's redis-server runs without persistence: a killed one starts empty)
        before = await buffered.get_session("before")
        assert before is not None and [t.index for t in before.turns] == [0]
    await buffered.aclose()
    assert outage.integrity() in (None, "ok")


async def test_buffered_aclose_gives_up_on_a_dead_backend(outage: Outage) -> None:
    buffered = BufferedStore(outage.store(), retry_initial=0.01, retry_max=0.05)
    if outage.mid_test:
        await buffered.open()
    outage.down()
    buffered.start_session_nowait(session("s1"))
    buffered.add_turn_nowait(turn("s1", 0))
    await asyncio.wait_for(buffered.aclose(timeout=0.3), 60)  # gives up rather than hang
    assert (buffered.pending, buffered.dropped) == (0, 2)
    outage.up()


# -- SQLite only -----------------------------------------------------------------------------


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "db.sqlite3") as store:
        await store.start_session(session("s1"))
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_sqlite_survives_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from causerie.store.records import SessionRecord, TurnRecord
        from causerie.store import SQLiteStore

        async def main():
            store = SQLiteStore({str(db)!r})
            await store.start_session(SessionRecord("s1", 1.0, "cli", "Causerie"))
            await store.add_turn(TurnRecord("s1", 0, 2.0, user_text="before the crash"))
            os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush, no atexit

        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == -9, stderr.decode()
    async with SQLiteStore(db) as store:
        got = await store.get_session("s1")
    assert got is not None
    assert [t.user_text for t in got.turns] == ["before the crash"]


async def test_sqlite_migrates_an_older_schema(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db, isolation_level=None) as conn:
        assert migrate(conn, MIGRATIONS[:1]) == 1  # a file written by the first release
        conn.execute(
            "INSERT INTO sessions (id, started_at, transport, agent_name) "
            "VALUES ('old', 1.0, 'cli', 'Causerie')"
        )
        conn.execute(
            "INSERT INTO turns VALUES ('old', 0, 1.5, ?)",
            (json.dumps({"session_id": "old", "index": 0, "started_at": 1.5, "v": 1}),),
        )
    conn.close()
    async with SQLiteStore(db) as store:
        got = await store.get_session("old")
        assert got is not None and got.turns[0].started_at == 1.5
        await store.add_error(ErrorRecord("llm", "after upgrade", 2.0, "old"))
        assert len(await store.list_errors(session_id="old")) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


async def test_sqlite_migrates_a_file_without_memory(tmp_path: Path) -> None:
    db = tmp_path / "v2.sqlite3"
    with sqlite3.connect(db, isolation_level=None) as conn:
        assert migrate(conn, MIGRATIONS[:2]) == 2  # a file written before memory moved here
        conn.execute(
            "INSERT INTO sessions (id, started_at, transport, agent_name) "
            "VALUES ('old', 1.0, 'cli', 'Causerie')"
        )
        conn.execute(
            "INSERT INTO errors (session_id, at, component, message) "
            "VALUES ('old', 1.0, 'llm', 'x')"
        )
    conn.close()
    async with SQLiteStore(db) as store:
        got = await store.get_session("old")
        assert got is not None and len(await store.list_errors(session_id="old")) == 1
        assert await store.get_memory("u") is None
        await store.remember("u", facts={"name": "Ann"}, exchanges=[TranscriptEntry("user", "hi")])
        mem = await store.get_memory("u")
        assert mem is not None and mem.facts == {"name": "Ann"} and len(mem.exchanges) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    conn.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SQLiteStore(db)
    with pytest.raises(CauserieError, match="upgrade causerie"):
        await store.open()
    await store.close()


# -- open_store ------------------------------------------------------------------------------


def test_open_store_urls(tmp_path: Path) -> None:
    s = open_store(f"sqlite:///{tmp_path}/a.db")  # tmp_path is absolute: four slashes
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "a.db" and s.transcripts
    s = open_store("sqlite:///var/x.db?transcripts=false")
    assert isinstance(s, SQLiteStore) and s.path == Path("var/x.db") and not s.transcripts
    s = open_store(str(tmp_path / "plain.db"), transcripts=False)
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "plain.db" and not s.transcripts
    assert isinstance(open_store(), SQLiteStore)
    with pytest.raises(CauserieError, match="unsupported store URL"):
        open_store("postgres://localhost/x")
    with pytest.raises(CauserieError, match="transcripts"):
        open_store("sqlite:///x.db?transcripts=maybe")
    with pytest.raises(CauserieError, match="in-memory"):
        open_store("sqlite:///:memory:")


def test_open_store_redis_url() -> None:
    pytest.importorskip("redis")
    from causerie.store.redis import RedisStore

    s = open_store("redis://127.0.0.1:1/2?prefix=app:&transcripts=0")
    assert isinstance(s, RedisStore)
    assert (s.prefix, s.transcripts, s.url) == ("app:", False, "redis://127.0.0.1:1/2")


def test_open_store_without_redis_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "redis" or m.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    with pytest.raises(CauserieError, match=r"pip install 'causerie\[redis\]'"):
        open_store("redis://localhost:6379/0")


def test_no_store_module_imports_redis_eagerly() -> None:
    code = "import sys, causerie.store, causerie.metrics; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_agent_versions_numbered_per_agent(shared_url: str) -> None:
    """The studio's history: numbers 1, 2, ... per agent, newest first, kept whole; two
    stores on the same backend (two servers) never hand out the same number."""
    from causerie.store.base import AgentVersion

    a, b = open_store(shared_url), open_store(shared_url)
    try:
        saved = [
            await s.add_agent_version(AgentVersion("shop", 0, 10.0 + i, "ann", f"name: v{i}\n"))
            for i, s in enumerate([a, b, a])
        ]
        other = await b.add_agent_version(AgentVersion("help", 99, 20.0, "bob", "x: 1\n", "-a"))
        assert [v.number for v in saved] == [1, 2, 3] and other.number == 1
        listed = await b.agent_versions("shop")
        assert [v.number for v in listed] == [3, 2, 1]
        assert listed[0].text == "name: v2\n" and listed[0].author == "ann"
        assert [v.number for v in await a.agent_versions("shop", limit=2)] == [3, 2]
        got = await a.get_agent_version("help", 1)
        assert got is not None and got.diff == "-a" and got.at == 20.0
        assert await a.get_agent_version("help", 2) is None
        assert await a.agent_versions("nobody") == []
    finally:
        await a.close()
        await b.close()
