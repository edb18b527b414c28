"""``causerie worker | join | call`` as a user runs them, without a LiveKit server: missing
settings (exit 2, naming the variables), an unreachable server (exit 1, naming the URL, no
traceback, no secret), and SIGTERM draining a worker whose health endpoint answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.speech import write_speech_wav

SECRET = "cli-secret-cli-secret-cli-secret-cli-secret"
NO_LIVEKIT = {"LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "CAUSERIE_"))}
    return {**base, **extra}


def causerie(
    *args: str, cwd: Path, extra: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causerie", *args],
        cwd=cwd,
        env=env(**extra),
        text=True,
        capture_output=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args", [["worker"], ["join", "--room", "r"], ["call", "--room", "r", "-i", "q.wav"]]
)
def test_missing_livekit_settings_exit_2_naming_them(tmp_path: Path, args: list[str]) -> None:
    r = causerie(*args, cwd=tmp_path, extra={**NO_LIVEKIT, "LIVEKIT_API_KEY": "devkey"})
    assert r.returncode == 2, r.stderr
    assert "LIVEKIT_URL" in r.stderr and "LIVEKIT_API_SECRET" in r.stderr
    assert "LIVEKIT_API_KEY" not in r.stderr.split("set ", 1)[1].split("(")[0]
    assert "Traceback" not in r.stderr


def test_livekit_settings_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "LIVEKIT_URL=not-a-url\nLIVEKIT_API_KEY=k\nLIVEKIT_API_SECRET=s\n"
    )
    r = causerie("join", "--room", "r", cwd=tmp_path, extra={})
    assert r.returncode == 2 and "LIVEKIT_URL" in r.stderr and "ws://" in r.stderr


def test_bad_room_name_is_a_usage_error(tmp_path: Path) -> None:
    r = causerie("join", "--room", "a b", cwd=tmp_path, extra={})
    assert r.returncode == 2 and "--room" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["join", "--room", "r"],
        ["join", "--room", "r", "--direct"],
        ["call", "--room", "r", "-i", "q.wav"],
    ],
)
def test_unreachable_server_exit_1_naming_the_url(tmp_path: Path, args: list[str]) -> None:
    write_speech_wav(tmp_path / "q.wav", ["hello"])
    url = f"ws://127.0.0.1:{free_port()}"
    r = causerie(
        *args,
        cwd=tmp_path,
        extra={"LIVEKIT_URL": url, "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": SECRET},
    )
    assert r.returncode == 1, r.stderr
    assert f"could not connect to the LiveKit server at {url}" in r.stderr
    assert "refused" in r.stderr and "Traceback" not in r.stderr
    assert SECRET not in r.stderr + r.stdout


@pytest.mark.slow
def test_worker_prewarms_a_job_process_then_sigterm_drains(tmp_path: Path) -> None:
    port = free_port()
    extra = {
        "LIVEKIT_URL": f"ws://127.0.0.1:{free_port()}",
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": SECRET,
        "CAUSERIE_WORKER_MAX_RETRY": "1000",  # keeps retrying: we stop it ourselves
    }
    log = tmp_path / "worker.log"
    args = ["worker", "--health-port", str(port), "--idle-processes", "1"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "causerie", *args],
            cwd=tmp_path,
            env=env(**extra),
            text=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            # The models load in a job process (forkserver), before any job exists.
            while "job process ready" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no job process came up"
                time.sleep(0.2)
            r = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            assert r.status_code == 200 and r.text == "OK"
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "draining" in text and "shutting down worker" in text
    assert SECRET not in text
