"""The CLI as a user runs it: exit codes, messages without tracebacks, piped input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str,
    cwd: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "causerie", *args],
        cwd=cwd,
        input=stdin,
        text=True,
        capture_output=True,
        env=full_env,
        timeout=timeout,
    )


def test_help_and_version(tmp_path: Path) -> None:
    r = run("--help", cwd=tmp_path)
    assert r.returncode == 0
    for cmd in ("talk", "chat", "config", "providers", "init"):
        assert cmd in r.stdout
    assert run("--version", cwd=tmp_path).returncode == 0


def test_invalid_config_exit_2_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(
        "turn:\n  min_endpointing_delay: 42\nllm:\n  provider: scripted\n"
    )
    r = run("config", "check", cwd=tmp_path)
    assert r.returncode == 2
    assert "turn.min_endpointing_delay" in r.stderr and "Traceback" not in r.stderr


def test_unknown_provider_from_env(tmp_path: Path) -> None:
    r = run("config", "check", cwd=tmp_path, env={"LLM_PROVIDER": "skynet"})
    assert r.returncode == 2 and "LLM_PROVIDER" in r.stderr and "scripted" in r.stderr


def test_config_check_reports_missing_key(tmp_path: Path) -> None:
    r = run("config", "check", cwd=tmp_path, env={"LLM_PROVIDER": "openai"})
    assert r.returncode == 1 and "OPENAI_API_KEY" in r.stderr


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("llm:\n  provider: openai\n  api_key: sk-topsecret\n")
    r = run("config", "show", "--sources", cwd=tmp_path, env={"MIN_ENDPOINTING_DELAY": "0.3"})
    assert r.returncode == 0, r.stderr
    assert "sk-topsecret" not in r.stdout and "********" in r.stdout
    assert "MIN_ENDPOINTING_DELAY" in r.stdout


def test_config_set_then_check(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("# keep me\nname: Ana\n")
    assert run("config", "set", "llm", "ollama/llama3.2", cwd=tmp_path).returncode == 0
    bad = run("config", "set", "turn.max_tool_steps", "-4", cwd=tmp_path)
    assert bad.returncode == 2 and "turn.max_tool_steps" in bad.stderr
    text = (tmp_path / "agent.yaml").read_text()
    assert "# keep me" in text and "ollama" in text and "max_tool_steps" not in text


def test_providers_lists_status(tmp_path: Path) -> None:
    r = run("providers", cwd=tmp_path)
    assert r.returncode == 0
    assert "pocketsphinx" in r.stdout and "ready" in r.stdout
    assert "pip install 'causerie[deepgram]'" in r.stdout or "DEEPGRAM_API_KEY" in r.stdout


def test_init_wizard_with_piped_answers(tmp_path: Path) -> None:
    answers = (
        "\n".join(
            [
                "Mia",
                "fr",
                "Tu es une assistante.",
                "Bonjour !",
                "pocketsphinx",
                "scripted",
                "espeak",
                "fr-fr",
                "vad",
                "n",
            ]
        )
        + "\n"
    )
    r = run("init", cwd=tmp_path, stdin=answers)
    assert r.returncode == 0, r.stderr
    check = run("config", "show", cwd=tmp_path)
    assert "name: Mia" in check.stdout and "language: fr" in check.stdout
    assert "interruptions: false" in check.stdout
    assert run("init", cwd=tmp_path, stdin=answers).returncode != 0  # refuses to overwrite


def test_chat_from_a_pipe(tmp_path: Path) -> None:
    r = run("chat", cwd=tmp_path, stdin="hello\nwhat can you do\n")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("agent:")]
    assert len(lines) == 2 and "Hello" in lines[0]


def test_talk_refuses_a_bad_wav(tmp_path: Path) -> None:
    (tmp_path / "q.wav").write_text("not audio")
    r = run("talk", "--input", "q.wav", "--output", "r.wav", cwd=tmp_path)
    assert r.returncode == 2 and "q.wav" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_talk_silence_gives_no_turn_and_clean_exit(tmp_path: Path) -> None:
    import numpy as np

    from causerie.audio.wav import PCM, write_wav

    write_wav(tmp_path / "quiet.wav", PCM(np.zeros(16000 * 2, dtype=np.int16), 16000))
    r = run("talk", "--input", "quiet.wav", "--output", "r.wav", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no turn" in r.stderr and "user:" not in r.stdout
    assert (tmp_path / "r.wav").exists()
