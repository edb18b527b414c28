"""``config check --strict``: every provider is built (models load) and one text turn runs
through the real session, so a CI pipeline fails on what would only fail at start."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.integration.test_cli import run


def test_strict_happy_path_offline_agent(tmp_path: Path) -> None:
    r = run("config", "check", "--strict", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ok   providers built" in r.stdout
    # The scripted brain's answer to the greeting, from the real session, then spoken.
    assert "ok   text turn: 'Hello' -> " in r.stdout and "Causerie" in r.stdout
    assert "ok   tts:" in r.stdout and "defaults: valid (strict)" in r.stdout
    assert "loading stt: pocketsphinx" in r.stderr  # progress while models load


def test_strict_fails_when_the_llm_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "agent.yaml").write_text(
        "llm:\n  provider: ollama\n  model: llama3.2\n"
        f"  base_url: http://127.0.0.1:{port}/v1\nturn:\n  max_response_time: 10\n"
    )
    plain = run("config", "check", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr  # only building and a turn show it
    r = run("config", "check", "--strict", cwd=tmp_path)
    assert r.returncode == 1
    assert "FAIL strict:" in r.stderr and "llm: APIConnectionError" in r.stderr
    assert "Traceback" not in r.stderr and "valid" not in r.stdout


def test_strict_fails_when_a_model_cannot_load(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("stt:\n  provider: whisper\n  model: models/absent\n")
    assert run("config", "check", cwd=tmp_path).returncode == 0
    r = run("config", "check", "--strict", cwd=tmp_path)
    assert r.returncode == 1
    assert "FAIL strict:" in r.stderr and "models/absent" in r.stderr
    assert "Traceback" not in r.stderr
