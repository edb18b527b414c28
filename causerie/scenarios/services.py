"""Local services a scenario starts before the agent (e.g. a mock API for a declared tool).

Each one gets a free port (``{port}`` in its command, also ``$PORT``), runs in the scenario
file's folder, and is ready when its ``ready`` path answers 2xx (or, without one, when the
port accepts connections). Its URL is given to the agent through ``url_env``. It is stopped
by its process handle (terminate, then kill), whatever happens in the scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CauserieError

if TYPE_CHECKING:
    from .model import Scenario, Service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def started(scn: Scenario, logs: Path) -> AsyncIterator[dict[str, str]]:
    """Start ``scn.services``; yields the environment the agent gets (``scn.env`` plus each
    service's ``url_env``)."""
    env = {k: str(v) for k, v in scn.env.items()}
    procs: list[asyncio.subprocess.Process] = []
    try:
        for svc in scn.services:
            url, proc = await _start(svc, scn.path.parent, env, logs)
            procs.append(proc)
            if svc.url_env:
                env[svc.url_env] = url
        yield env
    finally:
        for proc in reversed(procs):
            await _stop(proc)


async def _start(
    svc: Service, cwd: Path, env: Mapping[str, str], logs: Path
) -> tuple[str, asyncio.subprocess.Process]:
    port = free_port()
    cmd = [sys.executable if c == "python" else c.replace("{port}", str(port)) for c in svc.command]
    log = logs / f"service-{svc.name}.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=cwd,
            env={**os.environ, **env, "PORT": str(port)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(svc, proc, url, port, log)
    except BaseException:
        await _stop(proc)
        raise
    return url, proc


async def _wait_ready(
    svc: Service, proc: asyncio.subprocess.Process, url: str, port: int, log: Path
) -> None:
    import httpx

    deadline = time.monotonic() + svc.timeout
    async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
        while True:
            if proc.returncode is not None:
                tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-800:]
                raise CauserieError(
                    f"service {svc.name!r} exited ({proc.returncode}) before it was ready:\n{tail}"
                )
            try:
                if svc.ready:
                    if (await client.get(url + svc.ready)).is_success:
                        return
                else:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    return
            except (OSError, httpx.HTTPError):
                pass
            if time.monotonic() > deadline:
                raise CauserieError(
                    f"service {svc.name!r} was not ready after {svc.timeout:g} s ({url})"
                )
            with contextlib.suppress(TimeoutError):  # poll, or return early if it exits
                await asyncio.wait_for(proc.wait(), 0.05)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 5.0)
    except TimeoutError:
        proc.kill()
        await proc.wait()
