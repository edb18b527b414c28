"""Catalogue vendors built by the generic adapter, up to the wire: the plugin's own client
talks to a local server that speaks the vendor's protocol (Groq: OpenAI chat completions;
Rime: its HTTP synthesis endpoint), with the key from Causerie's environment."""

from __future__ import annotations

import numpy as np
import pytest
from aiohttp import web
from livekit.agents import llm
from livekit.agents.utils import http_context

from causerie.config.spec import ProviderSpec
from causerie.providers.info import BuildContext
from causerie.providers.registry import Registry
from tests.integration.openai_compat_server import FakeOpenAIServer


async def test_groq_llm_reaches_a_local_openai_compatible_server() -> None:
    pytest.importorskip("livekit.plugins.groq", reason="pip install 'causerie[groq]'")
    server = FakeOpenAIServer("Hello from Groq.")
    base = await server.start()
    try:
        groq = Registry.from_entry_points().build(
            "llm",
            ProviderSpec(provider="groq", model="llama-3.1-8b-instant", base_url=base),
            BuildContext(env={"GROQ_API_KEY": "gsk-fake"}),
        )
        ctx = llm.ChatContext()
        ctx.add_message(role="user", content="hi")
        async with groq.chat(chat_ctx=ctx) as stream:
            text = "".join([c.delta.content async for c in stream if c.delta and c.delta.content])
    finally:
        await server.stop()
    assert text == "Hello from Groq."
    assert server.requests[0]["model"] == "llama-3.1-8b-instant"
    assert server.headers[0]["Authorization"] == "Bearer gsk-fake"


async def test_rime_tts_reaches_a_local_synthesis_endpoint() -> None:
    pytest.importorskip("livekit.plugins.rime", reason="pip install 'causerie[rime]'")
    seen: list[tuple[dict[str, str], dict[str, object]]] = []
    tone = (8000 * np.sin(np.arange(4800) * 2 * np.pi * 440 / 24000)).astype(np.int16)

    async def synth(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.json()))
        return web.Response(body=tone.tobytes(), content_type="audio/pcm")

    app = web.Application()
    app.router.add_post("/v1/rime-tts", synth)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        rime = Registry.from_entry_points().build(
            "tts",
            ProviderSpec(
                provider="rime",
                model="arcana",
                voice="astra",
                base_url=f"http://127.0.0.1:{port}/v1/rime-tts",
                options={"sample_rate": 24000},
            ),
            BuildContext(env={"RIME_API_KEY": "rime-fake"}),
        )
        # Outside a LiveKit job, aiohttp-based plugins need an HTTP context (as the
        # transports open one for each session).
        async with http_context.open(), rime.synthesize("Bonjour à tous.") as stream:
            frames = [ev.frame async for ev in stream]
        await rime.aclose()
    finally:
        await runner.cleanup()
    headers, body = seen[0]
    assert headers["Authorization"] == "Bearer rime-fake"
    assert (body["text"], body["speaker"], body["modelId"]) == (
        "Bonjour à tous.",
        "astra",
        "arcana",
    )
    audio = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    assert len(audio) >= len(tone) and np.abs(audio).max() > 4000
