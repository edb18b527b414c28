"""``causerie serve`` in a subprocess, for tests that signal or kill the server itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """Started in ``workdir`` (its agent.yaml, if any, else the built-in agent), recording
    into ``store`` (a SQLite file). Ended by its PID."""

    def __init__(
        self,
        workdir: Path,
        store: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir, self.store = workdir, store
        self.port = port or free_port()
        self.log: list[str] = []
        self._ready = threading.Event()
        cmd = [sys.executable, "-m", "causerie", "serve", "--port", str(self.port),
               "--max-sessions", "2", "--set", f"metrics.store_url=sqlite:///{store}"]  # fmt: skip
        full = {**os.environ, "PYTHONUNBUFFERED": "1", "CAUSERIE_WARM_SESSIONS": "1", **(env or {})}
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, env=full, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        threading.Thread(target=self._pump, name="serve-stderr", daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip())
            if "is ready" in line:
                self._ready.set()

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    def wait_ready(self, timeout: float = 120.0) -> ServeProcess:
        wait_until(
            lambda: self._ready.is_set() or self.proc.poll() is not None, "server start", timeout
        )
        if not self._ready.is_set():
            raise RuntimeError("the server did not start:\n" + "\n".join(self.log[-20:]))
        return self

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
        self.proc.wait(30)
