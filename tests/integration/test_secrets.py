"""Secrets never leak (issue 14 §4): every provider key variable holds a marker, the server runs
with ``-v`` (debug logging) and its LLM is a local OpenAI-compatible server that receives the
key; a conversation, a failing provider, then every surface is searched for the marker: the
log, ``config show``, the error events, ``/metrics``, the session exports and the pages."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from causerie.providers.registry import Registry
from tests.e2e.harness import WsClient
from tests.integration.openai_compat_server import FakeOpenAIServer
from tests.waiting import until

pytestmark = pytest.mark.slow

MARKER = "SECRET-MARKER-7f3a9c"
ADMIN = "admin-token-for-the-test"


def key_variables() -> list[str]:
    """Every variable a provider reads a key from, and LiveKit's."""
    names = {"LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "CAUSERIE_TOKEN_API_KEY"}
    for info in Registry.from_entry_points().all():
        names.update(info.key_env)
        for group in info.key_groups:
            names.update(group)
    return sorted(names)


def causerie(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causerie", "-v", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_no_secret_reaches_a_log_an_answer_or_a_page(tmp_path: Path) -> None:
    variables = key_variables()
    assert {"OPENAI_API_KEY", "DEEPGRAM_API_KEY", "ELEVENLABS_API_KEY"} <= set(variables)
    llm = FakeOpenAIServer("Hello from the local model.")
    base = await llm.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAUSERIE_", "LLM_"))}
    env.update({name: f"{MARKER}-{name}" for name in variables})
    env.update(
        {
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": base,
            "LIVEKIT_URL": "ws://127.0.0.1:7880",
            "CAUSERIE_ADMIN_TOKEN": ADMIN,
            "PYTHONUNBUFFERED": "1",
        }
    )
    store = f"sqlite:///{tmp_path}/secrets.sqlite3"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "causerie", "-v", "serve", "--port", "0"),
            *("--set", f"metrics.store_url={store}"),
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    seen: list[str] = []
    try:
        await until(
            lambda: "is ready" in log_path.read_text() or proc.returncode is not None, "ready"
        )
        found = re.search(r"http://localhost:(\d+)", log_path.read_text())
        assert found, log_path.read_text()[-2000:]
        url = f"http://127.0.0.1:{found.group(1)}"
        ws_url = url.replace("http://", "ws://") + "/api/ws"

        async with WsClient(ws_url) as c:
            ready = await c.wait_for(lambda e: e["type"] == "ready", keep_streaming=False)
            await c.ws.send('{"type": "text", "text": "hello there"}')
            await c.wait_for(lambda e: e["type"] == "agent_transcript" and e["final"], 30)
            llm.fail = "500"  # the provider fails: an apology and an error, never the key
            await c.ws.send('{"type": "text", "text": "and now?"}')
            await c.wait_for(lambda e: e["type"] == "turn_metrics" and e["turn"] == 2, 60)
        seen.append(json.dumps(c.events))
        # The key was in use: the LLM server received it.
        assert llm.headers[0]["Authorization"] == f"Bearer {MARKER}-OPENAI_API_KEY"

        auth = {"Authorization": f"Bearer {ADMIN}"}
        sid = ready["session_id"]
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for _ in range(100):  # the session's end is written shortly after the close
                if (await http.get(f"/api/sessions/{sid}", headers=auth)).json().get(
                    "outcome"
                ) not in (None, "active"):
                    break
                await asyncio.sleep(0.1)
            for path in (
                "/",
                "/dashboard",
                "/api/ui",
                "/healthz",
                "/metrics",
                "/api/sessions",
                f"/api/sessions/{sid}",
                f"/api/sessions/{sid}/export?format=json",
                f"/api/sessions/{sid}/export?format=txt",
                "/api/errors",
                "/api/metrics/summary",
                "/token?room=r&identity=i",
                "/openapi.json",
                "/static/app.js",
            ):
                r = await http.get(path, headers=auth)
                assert r.status_code < 500 or path.startswith("/token"), (path, r.text)
                seen.append(f"{path}: {r.headers} {r.text}")
            transcript = (await http.get(f"/api/sessions/{sid}", headers=auth)).text
            assert "hello there" in transcript  # the export really holds the conversation
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        await llm.stop()

    for args in (("config", "show"), ("config", "check"), ("providers",)):
        done = causerie(*args, env=env, cwd=tmp_path)
        seen.append(done.stdout + done.stderr)
    log = log_path.read_text()
    assert " DEBUG " in log  # debug logging really was on
    seen.append(log)
    leaks = [text[max(0, i - 200) : i + 50] for text in seen if (i := text.find(MARKER)) >= 0]
    assert not leaks, leaks
    assert ADMIN not in "".join(seen[1:-4])  # nor the admin token, in any answer
