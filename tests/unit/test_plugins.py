"""Plugins: discovery through entry points, each hook (one ``test_hook_<name>`` per hook,
see test_plugins_hooks.py), isolation of failures, and the built-in plugins."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from causerie.agent.userdata import SessionData
from causerie.errors import ConfigError
from causerie.plugins import PluginHost, PluginSession, available_plugins, hookimpl
from causerie.plugins.builtin import memory, profanity, sentiment


def host(
    names: list[str], tmp_path: Path, **options: dict[str, Any]
) -> tuple[PluginHost, PluginSession]:
    h = PluginHost(names=names, options=dict(options), data_dir=tmp_path, base_dir=tmp_path)
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


def test_hook_causerie_session_start(tmp_path: Path) -> None:
    h, s = host([], tmp_path)
    h.register("a", plugin(causerie_session_start=lambda session: f"user {session.identity}"))
    h.register("b", plugin(causerie_session_start=lambda options: None))
    assert h.session_start(s) == ["user u"]


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


def test_hook_causerie_session_end(tmp_path: Path) -> None:
    seen: list[str] = []
    h, s = host([], tmp_path)
    h.register("a", plugin(causerie_session_end=lambda session: seen.append(session.session_id)))
    h.session_end(s)
    assert seen == ["s"]


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


def test_memory_store_keeps_facts_and_recent_exchanges(tmp_path: Path) -> None:
    store = memory.MemoryStore(tmp_path / "m.sqlite3")
    store.save("u", "s1", {"name": "Ana"}, [("user", "hi"), ("assistant", "hello")], 3)
    store.save(
        "u", "s2", {"name": "Ana", "allergies": ["nuts"]}, [("user", "a"), ("assistant", "b")], 3
    )
    facts, exchanges = store.load("u", 3)
    assert facts == {"name": "Ana", "allergies": ["nuts"]}
    assert exchanges == [("assistant", "hello"), ("user", "a"), ("assistant", "b")]
    assert store.load("someone-else", 3) == ({}, [])


def test_memory_across_sessions(tmp_path: Path) -> None:
    h, s = host(["conversation_memory"], tmp_path)
    assert h.session_start(s) == []  # nothing known yet
    h.user_message(s, "Hello, my name is Bob and I am allergic to gluten.")
    s.history_source = lambda: [("user", "my name is Bob"), ("assistant", "Nice to meet you, Bob!")]
    h.session_end(s)
    s2 = h.new_session(SessionData(identity="u"), lambda: [])
    [note] = h.session_start(s2)
    assert "name: Bob" in note and "allergies: gluten" in note and "Nice to meet you" in note
    assert s2.state["memory"] == {"name": "Bob", "allergies": ["gluten"]}  # tools see it at once
    anonymous = h.new_session(SessionData(identity=None), lambda: [])
    assert h.session_start(anonymous) == []  # no identity, no default_identity: nothing remembered
