"""`causerie talk` with a catalogue vendor as the TTS, from a config line: Rime, built by the
generic adapter, speaking through a local server that answers as Rime's HTTP endpoint. Then
the same vendor failing (HTTP 500) at the head of a chain: espeak takes over, the user hears
an answer, and the recorded turn says espeak served the TTS and counts the failover."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from causerie.audio.wav import read_wav
from causerie.store import SQLiteStore
from tests.speech import write_speech_wav

pytest.importorskip("livekit.plugins.rime", reason="pip install 'causerie[rime]'")

TONE = (8000 * np.sin(np.arange(24000) * 2 * np.pi * 440 / 24000)).astype(np.int16)


class RimeLike:
    """Rime's HTTP synthesis endpoint: PCM back, or HTTP 500 when ``broken``."""

    def __init__(self, broken: bool) -> None:
        self.broken = broken
        self.texts: list[str] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/rime-tts", self._synth)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/v1/rime-tts"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _synth(self, request: web.Request) -> web.Response:
        self.texts.append((await request.json())["text"])
        if self.broken:
            return web.json_response({"message": "overloaded"}, status=500)
        return web.Response(body=TONE.tobytes(), content_type="audio/pcm")


async def _talk(tmp_path: Path, tts_yaml: str) -> tuple[int, str]:
    (tmp_path / "agent.yaml").write_text(
        f"tts: {tts_yaml}\n"
        "fallback: {timeout: 3}\n"
        "metrics: {store_url: 'sqlite:///talk.sqlite3'}\n"
    )
    write_speech_wav(tmp_path / "in.wav", ["hello"], gap=1.5)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["RIME_API_KEY"] = "rime-fake"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "causerie", "talk", "-i", "in.wav", "-o", "out.wav", "--fast"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    return proc.returncode or 0, out.decode()


@pytest.mark.slow
async def test_talk_speaks_with_a_vendor_from_a_config_line(tmp_path: Path) -> None:
    rime = RimeLike(broken=False)
    url = await rime.start()
    try:
        rc, out = await _talk(tmp_path, f"{{provider: rime, model: arcana, base_url: '{url}'}}")
    finally:
        await rime.stop()
    assert rc == 0, out
    assert rime.texts, out  # the agent's reply was sent to "Rime"
    audio = read_wav(tmp_path / "out.wav", 24000).samples
    assert np.abs(audio).max() > 4000  # the tone Rime "synthesised" is what the user hears


@pytest.mark.slow
async def test_a_failing_vendor_hands_the_voice_to_espeak(tmp_path: Path) -> None:
    rime = RimeLike(broken=True)
    url = await rime.start()
    try:
        rc, out = await _talk(
            tmp_path, f"[{{provider: rime, base_url: '{url}'}}, {{provider: espeak}}]"
        )
    finally:
        await rime.stop()
    assert rc == 0, out
    assert rime.texts, out  # tried first
    audio = read_wav(tmp_path / "out.wav", 24000).samples
    assert np.abs(audio).max() > 1000  # espeak spoke the answer
    store = SQLiteStore(tmp_path / "talk.sqlite3")
    try:
        (session,) = (await store.list_sessions(limit=5)).items
        full = await store.get_session(session.id)
    finally:
        await store.close()
    assert full is not None and full.turns
    turn = full.turns[0]
    assert turn.failovers == ["tts"] and turn.providers["tts"].startswith("espeak")
