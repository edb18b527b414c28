"""The original design's command names (show, list-providers, change-llm, plugins --name,
interactive) do what today's commands do; ``config set`` says when .env or the environment
hides the value it wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from causerie.cli.main import main
from causerie.config.loader import ENV_OVERRIDES

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the project's commented agent.yaml, and no override in the environment."""
    monkeypatch.chdir(tmp_path)
    for var in [*ENV_OVERRIDES, "CAUSERIE_CONFIG"]:
        monkeypatch.delenv(var, raising=False)
    shutil.copy(ROOT / "agent.yaml", tmp_path / "agent.yaml")
    shutil.copy(ROOT / "instructions.md", tmp_path / "instructions.md")
    return tmp_path


def test_help_lists_the_aliases_in_their_own_section(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    commands, aliases = out.split("Aliases (original design):")
    assert "interactive" in commands and "config " in commands
    for name, target in [
        ("show", "= causerie config show"),
        ("config-show", "= causerie config show"),
        ("list-providers", "= causerie providers"),
        ("change-llm", "= causerie config set llm PROVIDER/MODEL"),
    ]:
        assert any(line.split() == [name, *target.split()] for line in aliases.splitlines())
        assert name not in commands.split()


def test_show_and_list_providers_match_todays_commands(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for alias, original in [
        (["show"], ["config", "show"]),
        (["config-show"], ["config", "show"]),
        (["list-providers"], ["providers"]),
        (["list-providers", "--kind", "stt"], ["providers", "--kind", "stt"]),
    ]:
        a, b = run(alias, capsys), run(original, capsys)
        assert a[0] == 0 and a == b, alias


def test_change_llm_is_config_set_llm(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(here / "agent.yaml", here / "other.yaml")
    assert run(["change-llm", "ollama", "llama3.2"], capsys)[0] == 0
    assert run(["-c", "other.yaml", "config", "set", "llm", "ollama/llama3.2"], capsys)[0] == 0
    text = (here / "agent.yaml").read_text()
    assert text == (here / "other.yaml").read_text()
    assert "provider: ollama" in text and "model: llama3.2" in text
    assert "# Causerie agent definition" in text  # comments kept
    # MODEL is optional: the provider's default.
    assert run(["change-llm", "scripted"], capsys)[0] == 0
    assert "model: llama3.2" not in (here / "agent.yaml").read_text()
    code, _, err = run(["change-llm", "skynet", "t-800"], capsys)
    assert code == 2 and "unknown provider 'skynet'" in err and "scripted" in err


def test_plugins_name_option_and_bare_list(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["plugins", "add", "--name", "sentiment_analysis"], capsys)
    assert code == 0 and "enabled sentiment_analysis" in out
    code, out, _ = run(["plugins", "add", "example"], capsys)  # positional still works
    assert code == 0 and "plugins: sentiment_analysis, example" in out
    bare, listed = run(["plugins"], capsys), run(["plugins", "list"], capsys)
    assert bare == listed and "on  sentiment_analysis" in bare[1]
    code, out, _ = run(["plugins", "remove", "--name", "sentiment_analysis"], capsys)
    assert code == 0 and "disabled sentiment_analysis (plugins: example)" in out
    code, _, err = run(["plugins", "remove", "a", "--name", "b"], capsys)
    assert code == 2 and "two names" in err
    code, _, err = run(["plugins", "add"], capsys)
    assert code == 2 and "--name NAME" in err


def test_set_warns_when_dotenv_wins(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / ".env").write_text("LLM_PROVIDER=scripted\n")
    code, out, err = run(["config", "set", "llm", "ollama/llama3.2"], capsys)
    assert code == 0 and "llm = ollama/llama3.2" in out
    assert "provider: ollama" in (here / "agent.yaml").read_text()  # written all the same
    assert "warning: llm.provider = 'ollama'" in err
    assert "LLM_PROVIDER in .env wins" in err and "the agent uses 'scripted'" in err
    assert "delete or edit the LLM_PROVIDER= line in .env" in err
    # The model goes with the provider the .env replaces.
    assert "warning: llm.model = 'llama3.2'" in err and "ignores it" in err
    # The alias warns too; a value nothing overrides does not.
    assert "LLM_PROVIDER in .env wins" in run(["change-llm", "openai", "gpt-4o"], capsys)[2]
    code, _, err = run(["config", "set", "turn.max_tool_steps", "4"], capsys)
    assert code == 0 and "warning" not in err


def test_set_warns_when_the_environment_wins(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIN_ENDPOINTING_DELAY", "0.5")
    (here / ".env").write_text("MIN_ENDPOINTING_DELAY=0.6\n")
    code, _, err = run(["config", "set", "turn.min_endpointing_delay", "0.3"], capsys)
    assert code == 0
    assert "MIN_ENDPOINTING_DELAY in the environment wins" in err and "uses 0.5" in err
    assert "unset MIN_ENDPOINTING_DELAY" in err and "MIN_ENDPOINTING_DELAY= line in .env" in err
    # The same value as the environment's: nothing is hidden, no warning.
    code, _, err = run(["config", "set", "turn.min_endpointing_delay", "0.5"], capsys)
    assert code == 0 and "warning" not in err


def test_plugins_add_warns_when_enabled_plugins_wins(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENABLED_PLUGINS", "profanity_filter")
    code, _, err = run(["plugins", "add", "--name", "example"], capsys)
    assert code == 0 and "ENABLED_PLUGINS in the environment wins" in err


ANSWERS = [
    "Mia",  # name
    "french",  # an invalid language: asked again
    "fr",
    "instructions.md",  # instructions file: kept
    "",  # greeting: none
    "",  # stt provider: kept
    "",  # stt model
    "ollama",  # llm provider
    "llama3.2",  # llm model
    "",  # tts provider: kept
    "",  # tts model
    "fr-fr",  # tts voice
    "",  # turn detection: kept
    "n",  # barge-in
    "example, nope",  # an unknown plugin: asked again
    "example",
    "y",  # write
]


def test_interactive_edits_the_existing_file(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(ANSWERS) + "\n"))
    code, out, err = run(["interactive"], capsys)
    assert code == 0, err
    assert "is not a language code" in err + out and "unknown plugin(s) 'nope'" in err + out
    assert "llm.provider: 'scripted' -> 'ollama'" in out and "7 change(s) written" in out
    text = (here / "agent.yaml").read_text()
    assert "# Causerie agent definition" in text and "# barge-in" in text  # comments kept
    for line in ("name: Mia", "language: fr", "model: llama3.2", "voice: fr-fr", "- example"):
        assert line in text
    assert "interruptions: false" in text and "detection: vad" in text
    # What `config check` would report is said now: pocketsphinx cannot hear French.
    assert "note: language: stt provider 'pocketsphinx' cannot recognise 'fr'" in err


def test_interactive_without_changes_and_without_a_file(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    before = (here / "agent.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO("\n" * 20))
    code, out, _ = run(["interactive"], capsys)
    assert code == 0 and "agent.yaml: no changes" in out
    assert (here / "agent.yaml").read_text() == before
    (here / "agent.yaml").unlink()
    code, _, err = run(["interactive"], capsys)
    assert code == 1 and "causerie init" in err
