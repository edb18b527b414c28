"""Fixtures for the store tests: a real ``redis-server`` in a subprocess, and stores on
both backends. A test module imports the ``*_fixture`` functions to use them (fixtures
live here rather than in tests/conftest.py, which other suites own)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from causerie.store import SQLiteStore, Store

REDIS_BIN = shutil.which("redis-server")
needs_redis_server = pytest.mark.skipif(
    REDIS_BIN is None,
    reason="redis-server is not installed (apt-get install redis-server); CI installs it",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server without persistence; killed by PID, restartable on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_BIN is not None
        self.proc = subprocess.Popen(
            [
                REDIS_BIN,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # SIGKILL to this PID only
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="session", name="redis_server")
def redis_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if REDIS_BIN is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI installs it")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(name="own_redis_server")
def own_redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own, for tests that kill it."""
    if REDIS_BIN is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI installs it")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


StoreFactory = Callable[..., Awaitable[Store]]


@pytest.fixture(params=["sqlite", "redis"], name="make_store")
async def make_store_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """``await make_store(transcripts=...)``: a fresh store on the parametrised backend.
    Stores made twice in one test share their data (two workers, one database)."""
    made: list[Store] = []
    kind = request.param
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    server = request.getfixturevalue("redis_server") if kind == "redis" else None

    async def make(*, transcripts: bool = True, name: str = "main") -> Store:
        store: Store
        if kind == "sqlite":
            store = SQLiteStore(tmp_path / f"{name}.sqlite3", transcripts=transcripts)
        else:
            from causerie.store.redis import RedisStore

            assert server is not None
            store = RedisStore(server.url, prefix=f"{prefix}{name}:", transcripts=transcripts)
        await store.open()
        made.append(store)
        return store

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    for store in made:
        await store.close()


@pytest.fixture(name="store")
async def store_fixture(make_store: StoreFactory) -> Store:
    return await make_store()
