"""Plugins: discovery through entry points, each hook (one ``test_hook_<name>`` per hook,
see test_plugins_hooks.py), isolation of failures, and the built-in plugins."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import Any

import pytest

from causerie.errors import ConfigError
from causerie.plugins import (
    PluginHost,
    PluginSession,
    PluginStores,
    available_plugins,
    hookimpl,
)
from causerie.plugins.builtin import profanity, sentiment
from causerie.userdata import SessionData


def host(
    names: list[str], tmp_path: Path, **options: dict[str, Any]
) -> tuple[PluginHost, PluginSession]:
    h = PluginHost(
        names=names,
        options=dict(options),
        data_dir=tmp_path,
        base_dir=tmp_path,
        stores=PluginStores(f"sqlite:///{tmp_path / 'store.sqlite3'}"),
    )
    return h, h.new_session(SessionData(session_id="s", identity="u"), lambda: [])


def plugin(**hooks: Any) -> types.SimpleNamespace:
    """A plugin object with the given hook functions."""
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def test_builtins_are_found_through_the_entry_point_group() -> None:
    found = available_plugins()
    for name in ("sentiment_analysis", "profanity_filter", "conversation_memory", "example"):
        assert found[name].builtin and found[name].description()


def test_unknown_plugin_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown plugin\(s\) 'nope'; available: conversation_memory"
    ):
        host(["nope"], tmp_path)


async def test_hook_causerie_session_start(tmp_path: Path) -> None:
    h, s = host([], tmp_path)
    h.register("a", plugin(causerie_session_start=lambda session: f"user {session.identity}"))
    h.register("b", plugin(causerie_session_start=lambda options: None))

    async def from_a_store(session: PluginSession) -> str:
        await asyncio.sleep(0)
        return f"async {session.session_id}"

    h.register("c", plugin(causerie_session_start=from_a_store))
    assert await h.session_start(s) == ["user u", "async s"]


def test_hook_causerie_user_message(tmp_path: Path) -> None:
    h, s = host([], tmp_path)

    def shout(message: Any) -> None:
        message.rewrite(message.text.upper())
        message.add_context("note from a")

    def block_secrets(message: Any, options: dict[str, Any]) -> None:
        if "SECRET" in message.text:
            message.block(options.get("reply", "no"))

    h.register("a", plugin(causerie_user_message=shout))
    h.register("b", plugin(causerie_user_message=block_secrets))
    h.options["b"] = {"reply": "I can't help with that."}
    msg = h.user_message(s, "hello")
    assert (msg.text, msg.original, msg.context, msg.blocked) == (
        "HELLO",
        "hello",
        ["note from a"],
        False,
    )
    msg = h.user_message(s, "my secret")
    assert msg.blocked and msg.reply == "I can't help with that." and msg.blocked_by == "b"


def test_hook_causerie_agent_text(tmp_path: Path) -> None:
    h, s = host([], tmp_path)
    h.register("a", plugin(causerie_agent_text=lambda text, index: f"[{index}] {text}"))
    h.register("b", plugin(causerie_agent_text=lambda text: text.replace("dog", "cat")))
    assert h.agent_text(s, "a dog.", 0) == "[0] a cat."


async def test_hook_causerie_session_end(tmp_path: Path) -> None:
    seen: list[str] = []
    h, s = host([], tmp_path)
    h.register("a", plugin(causerie_session_end=lambda session: seen.append(session.session_id)))

    async def write(session: PluginSession) -> None:
        await asyncio.sleep(0)
        seen.append("async")

    h.register("b", plugin(causerie_session_end=write))
    await h.session_end(s)
    assert seen == ["s", "async"]


async def test_async_hooks_are_bounded_and_only_at_start_and_end(tmp_path: Path) -> None:
    errors: list[tuple[str, str, str]] = []
    h, s = host([], tmp_path)
    h.async_timeout = 0.05
    h.on_error = lambda name, hook, e: errors.append((name, hook, type(e).__name__))

    async def hangs(session: PluginSession) -> str:
        await asyncio.sleep(10)
        return "never"

    async def on_the_voice_path(message: Any) -> None:
        message.rewrite("no")

    h.register("slow", plugin(causerie_session_start=hangs))
    h.register("fast", plugin(causerie_session_start=lambda: "fast"))
    h.register("voice", plugin(causerie_user_message=on_the_voice_path))
    assert await h.session_start(s) == ["fast"]  # the slow one is cut off, the others run
    assert h.user_message(s, "hi").text == "hi"
    assert errors == [
        ("slow", "causerie_session_start", "TimeoutError"),
        ("voice", "causerie_user_message", "TypeError"),
    ]


def test_a_failing_plugin_is_logged_counted_and_skipped(tmp_path: Path) -> None:
    errors: list[tuple[str, str]] = []
    h, s = host([], tmp_path)
    h.on_error = lambda name, hook, e: errors.append((name, hook))

    def broken(message: Any) -> None:
        message.rewrite("half done")
        raise RuntimeError("boom")

    h.register(
        "broken", plugin(causerie_user_message=broken, causerie_agent_text=lambda text: 1 / 0)
    )
    h.register(
        "ok", plugin(causerie_user_message=lambda message: message.add_context("still here"))
    )
    msg = h.user_message(s, "hi")
    assert msg.text == "hi" and msg.context == ["still here"]  # the broken one's change is undone
    assert h.agent_text(s, "fine.", 0) == "fine."
    assert h.errors["broken"] == 2 and errors == [
        ("broken", "causerie_user_message"),
        ("broken", "causerie_agent_text"),
    ]


def test_plugins_run_in_the_configured_order(tmp_path: Path) -> None:
    h, s = host([], tmp_path)
    h.register("second", plugin(causerie_agent_text=lambda text: text + " 2"))
    h.register("first", plugin(causerie_agent_text=lambda text: text + " 1"))
    h.names[:] = ["first", "second"]
    assert h.agent_text(s, "x", 0) == "x 1 2"


@pytest.mark.parametrize(
    ("text", "emotion", "negative"),
    [
        ("This is ridiculous, I am furious!", "anger", True),
        ("Je suis très déçu, le colis est abîmé", "sadness", True),
        ("I love it, thank you so much", "joy", False),
        ("C'est génial, merci !", "joy", False),
        ("I'd like some cheese", "neutral", False),
        ("not bad at all", "joy", False),
    ],
)
def test_sentiment_lexicon(text: str, emotion: str, negative: bool) -> None:
    score, got = sentiment.analyze(text)
    assert got == emotion and (score < -0.3) == negative and -1 <= score <= 1


def test_sentiment_annotates_and_prefixes_once(tmp_path: Path) -> None:
    h, s = host(["sentiment_analysis"], tmp_path)
    events: list[dict[str, Any]] = []
    s.events.subscribe(events.append)
    msg = h.user_message(s, "This is unacceptable, I'm really angry")
    assert s.annotations["emotion_last"] == "anger" and s.annotations["upset_turns"] == 1
    assert msg.context and "anger" in msg.context[0]
    assert h.agent_text(s, "Let me check.", 0) == "I'm sorry about that. Let me check."
    assert h.agent_text(s, "Here it is.", 1) == "Here it is."
    assert events[-1]["type"] == "session_annotations"


def test_profanity_both_ways_and_options(tmp_path: Path) -> None:
    h, s = host(
        ["profanity_filter"],
        tmp_path,
        profanity_filter={"extra_words": ["darn"], "allow": ["crap"]},
    )
    msg = h.user_message(s, "Putain, this is Shitty and darn")
    assert msg.blocked and msg.text == "***, this is *** and ***"
    assert not h.user_message(s, "crap, I forgot").blocked  # allowed by the options
    assert h.agent_text(s, "Well, damn and darn.", 0) == "Well, damn and ***."
    assert profanity.find("Scunthorpe is a town", {}) == []  # whole words only
    s.data.language = "fr"
    assert "courtois" in (h.user_message(s, "merde").reply or "")


async def test_memory_across_sessions(tmp_path: Path) -> None:
    h, s = host(["conversation_memory"], tmp_path)
    assert await h.session_start(s) == []  # nothing known yet
    h.user_message(s, "Hello, my name is Bob and I am allergic to gluten.")
    s.history_source = lambda: [("user", "my name is Bob"), ("assistant", "Nice to meet you, Bob!")]
    await h.session_end(s)
    s2 = h.new_session(SessionData(identity="u"), lambda: [])
    [note] = await h.session_start(s2)  # reads what the buffered write left in the store
    assert "name: Bob" in note and "allergies: gluten" in note and "Nice to meet you" in note
    assert s2.state["memory"] == {"name": "Bob", "allergies": ["gluten"]}  # tools see it at once
    assert s2.annotations == {"returning_user": True}
    anonymous = h.new_session(SessionData(identity=None), lambda: [])
    assert await h.session_start(anonymous) == []  # no identity, no default_identity: nothing
    await h.aclose()
    record = await _read_memory(tmp_path / "store.sqlite3", "u")
    assert record is not None and record.facts == {"name": "Bob", "allergies": ["gluten"]}
    assert [(e.role, e.text) for e in record.exchanges] == [
        ("user", "my name is Bob"),
        ("assistant", "Nice to meet you, Bob!"),
    ]


async def _read_memory(path: Path, identity: str) -> Any:
    from causerie.store import SQLiteStore

    async with SQLiteStore(path) as store:
        return await store.get_memory(identity)


async def test_memory_keeps_the_last_exchanges_and_only_writes_changed_facts(
    tmp_path: Path,
) -> None:
    h, _ = host(["conversation_memory"], tmp_path, conversation_memory={"max_exchanges": 3})
    for i in range(3):
        s = h.new_session(SessionData(identity="u"), lambda: [])
        await h.session_start(s)
        s.state["memory"].setdefault("preferences", []).append(f"p{i}")
        s.history_source = lambda i=i: [("user", f"q{i}"), ("assistant", f"a{i}")]
        await h.session_end(s)
    store = h.stores.get()
    await store.flush(5)
    record = await store.get_memory("u")
    assert record is not None
    assert record.facts == {"preferences": ["p0", "p1", "p2"]}
    assert [e.text for e in record.exchanges] == ["a1", "q2", "a2"]
    # A session that changed no fact leaves the facts alone (another worker may be writing
    # them), and one whose store read failed writes nothing at all.
    await store.backend.remember("u", facts={"name": "Ann"})
    s = h.new_session(SessionData(identity="u"), lambda: [("user", "hi")])
    s.state["memory_loaded"] = {"facts": {}, "exchanges": 0}
    s.state["memory"] = {"name": "Old"}
    await h.session_end(s)
    failed = h.new_session(SessionData(identity="u"), lambda: [("user", "lost")])
    await h.session_end(failed)
    await store.flush(5)
    record = await store.get_memory("u")
    assert record is not None and record.facts["name"] == "Old"
    assert [e.text for e in record.exchanges] == ["q2", "a2", "hi"]
    await h.aclose()


async def test_memory_without_a_store_starts_without_memory(tmp_path: Path) -> None:
    errors: list[str] = []
    h, s = host(
        ["conversation_memory"],
        tmp_path,
        conversation_memory={"store_url": "redis://127.0.0.1:1/0", "load_timeout": 0.5},
    )
    h.on_error = lambda name, hook, e: errors.append(hook)
    pytest.importorskip("redis")
    assert await h.session_start(s) == []  # the store is unreachable: counted, not fatal
    assert errors == ["causerie_session_start"] and "memory_loaded" not in s.state
    s.state["memory"] = {"name": "Zoe"}
    await h.session_end(s)  # nothing written over what could not be read
    assert h.stores.get("redis://127.0.0.1:1/0").pending == 0
    await h.aclose(timeout=0.1)


async def test_plugin_stores_per_url_privacy_switch_and_sharing(tmp_path: Path) -> None:
    from causerie.store import BufferedStore, SQLiteStore

    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    stores = PluginStores(url, transcripts=False)
    assert stores.get() is stores.get(url) and stores.get().transcripts is False
    other = stores.get(f"sqlite:///{tmp_path / 'b.sqlite3'}?transcripts=true")
    assert other is not stores.get() and other.transcripts is False  # the stricter wins
    assert PluginStores(url).get(f"{url}x?transcripts=false").transcripts is False
    assert PluginStores(f"{url}?transcripts=false").get().transcripts  # as the metrics store
    shared = BufferedStore(SQLiteStore(tmp_path / "shared.sqlite3"))
    worker = PluginStores(url, shared={url: shared})
    assert worker.get() is shared
    await worker.aclose()
    await stores.aclose()
    assert shared.remember_nowait("u", facts={"name": "Ann"})  # flushed, not closed
    await shared.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        stores.get("sqlite:///elsewhere.sqlite3")


def test_plugins_get_the_agent_store_and_memory_options(tmp_path: Path) -> None:
    from causerie.config.loader import load_config
    from causerie.plugins import load_plugins
    from causerie.plugins.builtin import memory

    url = f"sqlite:///{tmp_path / 'agent.sqlite3'}"
    root = Path(__file__).resolve().parents[2]
    loaded = load_config(
        root / "shop.yaml",
        dotenv=None,
        overrides={"metrics.store_url": url, "metrics.transcripts": False},
    )
    h = load_plugins(loaded)
    assert h is not None and h.own_stores
    assert h.stores.default_url == url and not h.stores.transcripts
    worker = PluginStores(url)
    shared = load_plugins(loaded, stores=worker)
    assert shared is not None and shared.stores is worker and not shared.own_stores
    _, s = host(["conversation_memory"], tmp_path)
    assert memory.store_url(s, {}) is None  # the agent's store
    assert memory.store_url(s, {"store_url": "redis://r:6379/1"}) == "redis://r:6379/1"
    assert memory.store_url(s, {"path": "m.sqlite3"}) == f"sqlite:///{tmp_path / 'm.sqlite3'}"
