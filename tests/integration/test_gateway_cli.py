"""``causerie gateway`` as a user runs it: refuses an open non-loopback address, serves with
keys from the environment and a file, stops on Ctrl+C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.test_cli import run

pytestmark = pytest.mark.slow


def test_refuses_an_open_public_address(tmp_path: Path) -> None:
    r = run("gateway", "--host", "0.0.0.0", cwd=tmp_path, env={"CAUSERIE_GATEWAY_API_KEYS": ""})
    assert r.returncode == 2, r.stderr
    assert "CAUSERIE_GATEWAY_API_KEYS" in r.stderr and "Traceback" not in r.stderr
    r = run("gateway", "--api-keys-file", str(tmp_path / "missing.txt"), cwd=tmp_path)
    assert r.returncode == 2 and "missing.txt" in r.stderr


def test_serves_with_keys_from_env_and_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# team keys\nfile-key-1\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | {
        "CAUSERIE_GATEWAY_API_KEYS": "env-key-1",
        "CAUSERIE_GATEWAY_STT_WORKERS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "causerie", "gateway", "--port", "0", "--api-keys-file", str(keys)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        ready = None
        for line in proc.stderr:  # progress lines, then the ready line
            ready = re.search(r"ready: (http://\S+/v1) \(2 API key", line)
            if ready:
                break
        assert ready, "no ready line"
        base = ready.group(1)
        for key in ("env-key-1", "file-key-1"):
            r = httpx.get(f"{base}/models", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200 and r.json()["data"]
        assert httpx.get(f"{base}/models").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)
