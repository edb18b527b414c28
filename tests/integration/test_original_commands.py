"""The original design's entry points, run as its documents run them: ``python
manage_agents.py ...`` and the make targets (change-llm, plugins, metrics, start, stop,
install)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from causerie.config.loader import ENV_OVERRIDES
from tests.integration.test_cli import run as causerie

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ENV_OVERRIDES and not k.endswith("_API_KEY") and not k.startswith("MAKE")
    }
    env.update(
        CAUSERIE_CONFIG=str(tmp_path / "agent.yaml"),
        CAUSERIE_STORE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        **extra,
    )
    return env


def make(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """make in the project, with this interpreter's venv, never reinstalling it."""
    stamp = f"{VENV}/.installed"
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), f"VENV={VENV}", "-o", stamp, *args],
        env=clean_env(tmp_path, **extra),
        text=True,
        capture_output=True,
        timeout=180,
    )


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "agent.yaml", tmp_path / "agent.yaml")
    shutil.copy(ROOT / "instructions.md", tmp_path / "instructions.md")
    return tmp_path / "agent.yaml"


def test_manage_agents_py_runs_the_cli(tmp_path: Path, agent: Path) -> None:
    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage_agents.py"), *args],
            cwd=tmp_path,
            env=clean_env(tmp_path),
            text=True,
            capture_output=True,
            timeout=120,
        )

    shown = manage("show")
    today = causerie("config", "show", cwd=tmp_path, env=clean_env(tmp_path))
    assert shown.returncode == 0 and shown.stdout == today.stdout
    assert "pocketsphinx" in manage("list-providers").stdout
    assert manage("change-llm", "openai", "gpt-4o").returncode == 0
    assert "model: gpt-4o" in agent.read_text()
    added = manage("plugins", "add", "--name", "sentiment_analysis")
    assert added.returncode == 0 and "enabled sentiment_analysis" in added.stdout
    assert "on  sentiment_analysis" in manage("plugins", "list").stdout


def test_make_change_llm_both_forms(tmp_path: Path, agent: Path) -> None:
    r = make(tmp_path, "change-llm", "openai", "gpt-4o")  # as the tutorial writes it
    assert r.returncode == 0, r.stderr
    assert "provider: openai" in agent.read_text() and "model: gpt-4o" in agent.read_text()
    r = make(tmp_path, "change-llm", "PROVIDER=ollama", "MODEL=llama3.2")
    assert r.returncode == 0, r.stderr
    assert "provider: ollama" in agent.read_text() and "model: llama3.2" in agent.read_text()
    r = make(tmp_path, "change-llm")
    assert r.returncode != 0 and "usage: make change-llm PROVIDER=openai MODEL=gpt-4o" in r.stdout


def test_make_plugins_metrics_install(tmp_path: Path, agent: Path) -> None:
    r = make(tmp_path, "plugins")
    assert r.returncode == 0 and "sentiment_analysis" in r.stdout and "enabled:" in r.stdout
    r = make(tmp_path, "metrics")
    assert r.returncode == 0 and "voice_to_voice" in r.stdout
    assert make(tmp_path, "install").returncode == 0


def test_make_start_then_stop(tmp_path: Path, agent: Path) -> None:
    files = [f"PIDFILE={tmp_path / 'c.pid'}", f"LOG={tmp_path / 'c.log'}"]
    started = make(tmp_path, "start", *files, CAUSERIE_PORT="0")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        pid = int((tmp_path / "c.pid").read_text())
        url = re.search(r"http://localhost:\d+", started.stdout)
        assert url, started.stdout
        with urllib.request.urlopen(url.group(0), timeout=30) as page:
            assert page.status == 200
        again = make(tmp_path, "start", *files)
        assert again.returncode != 0 and f"already running (pid {pid})" in again.stdout
    finally:
        stopped = make(tmp_path, "stop", *files)
    assert stopped.returncode == 0 and "stopped pid" in stopped.stdout
    assert not (tmp_path / "c.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "not running" in make(tmp_path, "stop", *files).stdout
