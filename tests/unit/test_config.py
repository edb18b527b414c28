"""The agent definition: precedence, validation messages, instructions files."""

from __future__ import annotations

from pathlib import Path

import pytest

from causerie.config import load_config
from causerie.errors import ConfigError
from causerie.providers.registry import Registry


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_are_offline(tmp_path: Path) -> None:
    loaded = load_config(None, environ={}, dotenv=None)
    spec = loaded.spec
    assert (spec.stt.provider, spec.llm.provider, spec.tts.provider, spec.vad.provider) == (
        "pocketsphinx",
        "scripted",
        "espeak",
        "silero",
    )
    assert spec.turn.detection == "vad"
    assert spec.turn.min_endpointing_delay == pytest.approx(0.2)


def test_precedence_cli_over_env_over_dotenv_over_yaml(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        "turn:\n  min_endpointing_delay: 0.1\n  max_endpointing_delay: 2.0\nname: FromYaml\n",
    )
    dotenv = write(
        tmp_path, "MIN_ENDPOINTING_DELAY=0.3\nAGENT_NAME=FromDotenv\nMAX_RESPONSE_TIME=9\n", ".env"
    )
    loaded = load_config(cfg, environ={"MIN_ENDPOINTING_DELAY": "0.4"}, dotenv=dotenv)
    assert loaded.spec.turn.min_endpointing_delay == pytest.approx(0.4)  # env beats .env
    assert loaded.spec.name == "FromDotenv"  # .env beats yaml
    assert loaded.spec.turn.max_response_time == 9
    assert loaded.spec.turn.max_endpointing_delay == 2.0  # yaml kept where nothing overrides
    assert "MIN_ENDPOINTING_DELAY" in loaded.sources["turn.min_endpointing_delay"]
    loaded = load_config(
        cfg,
        environ={"MIN_ENDPOINTING_DELAY": "0.4"},
        dotenv=dotenv,
        overrides={"turn.min_endpointing_delay": 0.5},
    )
    assert loaded.spec.turn.min_endpointing_delay == pytest.approx(0.5)  # command line wins


def test_original_design_variables(tmp_path: Path) -> None:
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": "gpt-4o-mini",
        "STT_PROVIDER": "deepgram",
        "STT_MODEL": "nova-3",
        "TTS_PROVIDER": "elevenlabs",
        "TTS_MODEL": "eleven_flash_v2_5",
        "TTS_VOICE_ID": "abc",
        "AGENT_INSTRUCTIONS": "Be brief.",
        "ENABLED_PLUGINS": "a, b",
        "MIN_ENDPOINTING_DELAY": "0.25",
        "ENABLE_BARGE_IN": "false",
        "MAX_RESPONSE_TIME": "7",
        "ENABLE_METRICS": "0",
    }
    spec = load_config(None, environ=env, dotenv=None).spec
    assert (spec.llm.provider, spec.llm.model) == ("openai", "gpt-4o-mini")
    assert (spec.stt.provider, spec.stt.model) == ("deepgram", "nova-3")
    assert (spec.tts.provider, spec.tts.model, spec.tts.voice) == (
        "elevenlabs",
        "eleven_flash_v2_5",
        "abc",
    )
    assert spec.instructions == "Be brief."
    assert spec.plugins == ["a", "b"]
    assert spec.turn.interruptions is False
    assert spec.turn.max_response_time == 7
    assert spec.metrics.enabled is False


def test_switching_provider_by_env_drops_the_old_vendors_model(tmp_path: Path) -> None:
    cfg = write(tmp_path, "tts:\n  provider: espeak\n  voice: fr-fr\n  options: {rate: 200}\n")
    spec = load_config(cfg, environ={"TTS_PROVIDER": "openai"}, dotenv=None).spec
    assert spec.tts.provider == "openai" and spec.tts.voice is None and spec.tts.options == {}


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("colour: blue\n", {}, ["colour", "unknown field", "allowed fields here", "instructions"]),
        (
            "turn:\n  min_endpointing_delay: fast\n",
            {},
            ["turn.min_endpointing_delay", "valid number"],
        ),
        (
            "turn:\n  min_endpointing_delay: 9\n",
            {},
            ["turn.min_endpointing_delay", "less than or equal to 5"],
        ),
        ("turn:\n  detection: magic\n", {}, ["turn.detection", "'vad', 'lm' or 'turn_model'"]),
        (
            "",
            {"MIN_ENDPOINTING_DELAY": "-1"},
            ["turn.min_endpointing_delay", "MIN_ENDPOINTING_DELAY"],
        ),
        (
            "turn:\n  min_endpointing_delay: 2\n  max_endpointing_delay: 1\n",
            {},
            ["max_endpointing_delay must be >="],
        ),
        (
            "stt: {provider: pocketsphinx, bogus: 1}\n",
            {},
            ["stt.bogus", "unknown field", "provider, model"],
        ),
        ("- a\n- b\n", {}, ["top level must be a mapping"]),
        ("name: [unclosed\n", {}, ["not valid YAML"]),
    ],
)
def test_invalid_definitions_name_the_field(
    tmp_path: Path, text: str, env: dict[str, str], expected: list[str]
) -> None:
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(cfg, environ=env, dotenv=None)
    for part in expected:
        assert part in str(err.value), str(err.value)
    assert err.value.exit_code == 2


def test_unknown_provider_lists_the_known_ones(tmp_path: Path) -> None:
    cfg = write(tmp_path, "llm:\n  provider: gpt5000\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg, environ={}, dotenv=None, registry=Registry.from_entry_points())
    msg = str(err.value)
    assert "llm.provider" in msg and "gpt5000" in msg and "scripted" in msg and "openai" in msg


def test_unknown_provider_from_env_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(
            None,
            environ={"STT_PROVIDER": "nope"},
            dotenv=None,
            registry=Registry.from_entry_points(),
        )
    assert "STT_PROVIDER" in str(err.value)


def test_instructions_file_relative_to_yaml(tmp_path: Path) -> None:
    (tmp_path / "prompt.md").write_text("# Be kind\nAlways.\n")
    cfg = write(tmp_path, "instructions_file: prompt.md\n")
    loaded = load_config(cfg, environ={}, dotenv=None)
    assert loaded.instructions.startswith("# Be kind")


def test_missing_instructions_file_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path, "instructions_file: nowhere.md\n")
    with pytest.raises(ConfigError, match="instructions_file"):
        load_config(cfg, environ={}, dotenv=None)


def test_instructions_and_file_are_exclusive(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_text("x")
    cfg = write(tmp_path, "instructions: hi\ninstructions_file: p.md\n")
    with pytest.raises(ConfigError, match="either instructions or instructions_file"):
        load_config(cfg, environ={}, dotenv=None)


def test_env_instructions_replace_instructions_file(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_text("from file")
    cfg = write(tmp_path, "instructions_file: p.md\n")
    loaded = load_config(cfg, environ={"AGENT_INSTRUCTIONS": "from env"}, dotenv=None)
    assert loaded.instructions == "from env"


def test_api_key_is_secret(tmp_path: Path) -> None:
    cfg = write(tmp_path, "llm:\n  provider: openai\n  api_key: sk-verysecret\n")
    spec = load_config(cfg, environ={}, dotenv=None).spec
    assert "sk-verysecret" not in repr(spec) and "sk-verysecret" not in str(spec.llm)
    assert spec.llm.api_key is not None and spec.llm.api_key.get_secret_value() == "sk-verysecret"


def test_shipped_sample_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    loaded = load_config(
        root / "agent.yaml", environ={}, dotenv=None, registry=Registry.from_entry_points()
    )
    assert loaded.instructions
