"""A plugin's ``plugin_options`` against the ``Options`` model it declares: refused at its
field when misspelt or mistyped (at start, in ``config check`` and the studio alike), given
to the hooks validated; a plugin without a model gets its mapping unchecked."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from causerie.config.options import Options
from causerie.errors import ConfigError
from causerie.plugins import PluginHost, PluginStores, available_plugins, hookimpl
from causerie.plugins.manager import options_model
from causerie.runtime.checks import check_plugin_options
from causerie.userdata import SessionData


def _host(tmp_path: Path, names: list[str], options: dict[str, Any]) -> PluginHost:
    return PluginHost(
        names=names,
        options=options,
        data_dir=tmp_path,
        base_dir=tmp_path,
        stores=PluginStores(f"sqlite:///{tmp_path / 'store.sqlite3'}"),
    )


def test_every_builtin_plugin_declares_its_options() -> None:
    for name, info in available_plugins().items():
        if info.builtin:
            model = options_model(info.load())
            assert model is not None, f"{name} declares no Options model"
            assert model.model_config.get("extra") == "forbid"


def test_a_misspelt_option_stops_the_start_naming_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _host(tmp_path, ["profanity_filter"], {"profanity_filter": {"extra_wrds": ["darn"]}})
    assert str(err.value) == (
        "plugin_options.profanity_filter.extra_wrds: unknown option 'extra_wrds'; "
        "allowed: words, extra_words, allow, mask, block, reply_en, reply_fr"
    )


def test_config_check_names_a_mistyped_option() -> None:
    problems = check_plugin_options(
        {"conversation_memory": {"max_exchanges": "lots"}}, available_plugins()
    )
    assert [p.field for p in problems] == ["plugin_options.conversation_memory.max_exchanges"]
    assert "'lots' is not a valid int" in problems[0].message


def test_hooks_get_the_validated_options(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    class Opts(Options):
        limit: float = 1.0

    @hookimpl
    def causerie_agent_text(text: str, options: dict[str, Any]) -> str:
        seen.append(options)
        return text

    mine = types.SimpleNamespace(Options=Opts, causerie_agent_text=causerie_agent_text)
    untyped = types.SimpleNamespace(causerie_agent_text=causerie_agent_text)
    host = _host(tmp_path, [], {"mine": {"limit": "2.5"}, "untyped": {"anything": [1]}})
    # Plugins registered by hand (tests, embedders) are checked as they register.
    host.register("mine", mine)
    host.register("untyped", untyped)
    host.agent_text(host.new_session(SessionData(session_id="s"), lambda: []), "hi", 0)
    assert seen == [{"limit": 2.5}, {"anything": [1]}]
    with pytest.raises(ConfigError, match=r"plugin_options\.bad\.limit: 'x' is not a valid"):
        _host(tmp_path, [], {"bad": {"limit": "x"}}).register("bad", mine)
