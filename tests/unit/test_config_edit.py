"""`config set`: validated before writing, comments and other settings kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from causerie.config import load_config
from causerie.config.edit import expand, set_values
from causerie.errors import ConfigError
from causerie.providers.registry import Registry

SAMPLE = """\
# my agent, hand written
name: Zoe   # the agent's name
turn:
  min_endpointing_delay: 0.2   # tuned by hand
llm:
  provider: scripted
tts:
  provider: espeak
  voice: fr-fr
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    p = tmp_path / "agent.yaml"
    p.write_text(SAMPLE)
    return p


def test_set_keeps_comments_and_other_settings(cfg: Path) -> None:
    set_values(cfg, expand("turn.min_endpointing_delay", "0.35"), Registry.from_entry_points())
    text = cfg.read_text()
    assert "# my agent, hand written" in text and "# the agent's name" in text
    assert "min_endpointing_delay: 0.35" in text
    spec = load_config(cfg, environ={}, dotenv=None).spec
    assert (
        spec.name == "Zoe" and spec.tts.voice == "fr-fr" and spec.turn.min_endpointing_delay == 0.35
    )


def test_shorthand_provider_and_model(cfg: Path) -> None:
    assert expand("llm", "openai/gpt-4o-mini") == {
        "llm.provider": "openai",
        "llm.model": "gpt-4o-mini",
    }
    set_values(cfg, expand("llm", "openai/gpt-4o-mini"), Registry.from_entry_points())
    spec = load_config(cfg, environ={}, dotenv=None).spec
    assert (spec.llm.provider, spec.llm.model) == ("openai", "gpt-4o-mini")


def test_changing_provider_drops_the_old_voice(cfg: Path) -> None:
    set_values(cfg, expand("tts.provider", "openai"), Registry.from_entry_points())
    spec = load_config(cfg, environ={}, dotenv=None).spec
    assert spec.tts.provider == "openai" and spec.tts.voice is None


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("turn.min_endpointing_delay", "99", "less than or equal to 5"),
        ("llm.provider", "nope", "allowed: "),
        ("turn.colour", "blue", "unknown field"),
        ("turn.detection", "psychic", "'vad', 'lm' or 'turn_model'"),
        ("name.first", "x", "not a section"),
    ],
)
def test_invalid_set_never_writes(cfg: Path, key: str, value: str, needle: str) -> None:
    before = cfg.read_bytes()
    with pytest.raises(ConfigError) as err:
        set_values(cfg, expand(key, value), Registry.from_entry_points())
    assert needle in str(err.value)
    assert cfg.read_bytes() == before
    assert list(cfg.parent.glob(".agent.yaml.*")) == []  # no temp file left


def test_list_values(cfg: Path) -> None:
    set_values(cfg, expand("plugins", "sentiment_analysis, profanity_filter"))
    assert load_config(cfg, environ={}, dotenv=None).spec.plugins == [
        "sentiment_analysis",
        "profanity_filter",
    ]


def test_set_creates_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "new.yaml"
    set_values(p, expand("name", "Fresh"))
    assert load_config(p, environ={}, dotenv=None).spec.name == "Fresh"
