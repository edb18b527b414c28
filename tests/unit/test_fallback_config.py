"""Fallback chains in agent.yaml: the list form, its errors, and the environment's precedence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from causerie.config.loader import load_config
from causerie.errors import ConfigError
from causerie.providers.registry import Registry

CHAIN = """\
llm:
  - provider: openai
    model: gpt-4o-mini
  - provider: ollama
    base_url: http://127.0.0.1:11434/v1
  - provider: scripted
tts: [{provider: openai, voice: nova}, {provider: espeak}]
fallback: {timeout: 2.5}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_a_list_is_a_chain_and_the_first_stays_the_stage(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, CHAIN), environ={}, dotenv=None)
    spec = loaded.spec
    assert spec.llm.provider == "openai" and spec.llm.model == "gpt-4o-mini"
    assert [p.label for p in spec.chain("llm")] == ["openai/gpt-4o-mini", "ollama", "scripted"]
    assert spec.chain("llm")[1].base_url == "http://127.0.0.1:11434/v1"
    assert all(not p.fallbacks for p in spec.chain("llm"))
    assert [p.label for p in spec.chain("tts")] == ["openai", "espeak"]
    assert [p.label for p in spec.chain("stt")] == ["pocketsphinx"]
    assert spec.fallback.timeout == 2.5


def test_the_environment_replaces_the_first_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _write(tmp_path, CHAIN)
    env = {"LLM_PROVIDER": "anthropic", "TTS_VOICE_ID": "shimmer"}
    loaded = load_config(path, environ=env, dotenv=None)
    assert [p.label for p in loaded.spec.chain("llm")] == ["anthropic", "ollama", "scripted"]
    assert loaded.spec.tts.voice == "shimmer" and loaded.spec.chain("tts")[1].provider == "espeak"
    assert loaded.sources["llm.provider"] == "environment (LLM_PROVIDER)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "llm: [{provider: openai}, {provider: scripted, modle: x}]",
            "llm[1].modle: unknown field",
        ),
        ("llm: []", "llm: an empty list"),
        ("vad: [{provider: silero}, {provider: silero}]", "vad: one provider only"),
        (
            "llm: [{provider: openai}, {provider: scripted}]\nfallback: {timeout: 30}",
            "fallback.timeout (30 s) must be below turn.max_response_time (15 s)",
        ),
        ("llm: [{provider: openai}, {provider: scripted}]\nfallback: {timeout: 0}", "timeout"),
    ],
)
def test_chain_errors_name_the_place(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(_write(tmp_path, text), environ={}, dotenv=None)


def test_every_provider_of_a_chain_is_checked(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm: [{provider: openai}, {provider: nope}]")
    with pytest.raises(ConfigError, match=r"llm\[1\]\.provider: unknown provider 'nope'"):
        load_config(path, environ={}, dotenv=None, registry=Registry.from_entry_points())


def test_config_set_changes_the_first_of_a_chain(tmp_path: Path) -> None:
    from causerie.config.edit import expand, set_values

    path = _write(tmp_path, CHAIN)
    set_values(path, expand("llm", "anthropic/claude-3-5-haiku-latest"))
    set_values(path, {"tts.voice": "shimmer"})
    spec = load_config(path, environ={}, dotenv=None).spec
    assert [p.label for p in spec.chain("llm")] == [
        "anthropic/claude-3-5-haiku-latest",
        "ollama",
        "scripted",
    ]
    assert spec.tts.voice == "shimmer" and spec.chain("tts")[1].provider == "espeak"
