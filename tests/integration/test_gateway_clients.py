"""The gateway driven by clients nobody here wrote: the official ``openai`` package and
livekit-agents' own OpenAI plugin; then a Causerie agent whose STT, TTS and LLM are all
``openai`` pointed at the gateway holds a spoken conversation from a WAV."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import llm

from causerie.agent.faults import Faults
from causerie.agent.pipeline import Pipeline, build_pipeline
from causerie.agent.session import build_agent, build_session
from causerie.audio.wav import PCM
from causerie.config import load_config
from causerie.config.loader import LoadedConfig
from causerie.providers.info import BuildContext
from causerie.providers.registry import Registry
from causerie.transports.file import IN_RATE, talk
from tests.gateway_harness import AGENT_YAML, KEY, Running, running_gateway
from tests.integration.openai_compat_server import FakeOpenAIServer
from tests.speech import conversation, write_speech_wav

openai = pytest.importorskip("openai")
lk_openai = pytest.importorskip("livekit.plugins.openai")
pytestmark = pytest.mark.slow
VOICE = "en-us+f2"  # the espeak voice pocketsphinx understands best


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_entry_points()


@pytest.fixture(scope="module")
def loaded(registry: Registry) -> LoadedConfig:
    return load_config(None, environ={}, dotenv=None, registry=registry)


@pytest.fixture(scope="module")
def pipeline(loaded: LoadedConfig, registry: Registry) -> Iterator[Pipeline]:
    built = build_pipeline(loaded, registry)
    yield built
    asyncio.run(built.aclose())


@pytest.fixture
async def gw(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry
) -> AsyncIterator[Running]:
    async with running_gateway(pipeline, loaded, registry) as running:
        yield running


async def test_official_openai_client(gw: Running, tmp_path: Path) -> None:
    client = openai.AsyncOpenAI(base_url=gw.base + "/v1", api_key=KEY, max_retries=0)
    wav = write_speech_wav(tmp_path / "q.wav", ["What can you do?"], voice=VOICE)
    with wav.open("rb") as f:
        t = await client.audio.transcriptions.create(file=f, model="pocketsphinx")
    assert {"what", "can", "do"} <= set(t.text.split())

    audio = bytearray()
    async with client.audio.speech.with_streaming_response.create(
        model="espeak", voice="en-us", input="Hello from the gateway.", response_format="wav"
    ) as resp:
        assert resp.headers["content-type"] == "audio/wav"
        async for chunk in resp.iter_bytes():
            audio += chunk
    assert audio[:4] == b"RIFF" and len(audio) > 24000  # > 0.5 s at 24 kHz s16

    stream = await client.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": "What can you do?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert len([p for p in parts if p]) > 1 and "".join(parts).startswith("I can")

    with pytest.raises(openai.AuthenticationError):
        bad = openai.AsyncOpenAI(base_url=gw.base + "/v1", api_key="wrong", max_retries=0)
        await bad.models.list()
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )


async def test_livekit_openai_plugin_as_stt_tts_llm(gw: Running) -> None:
    base = gw.base + "/v1"
    stt = lk_openai.STT(model="pocketsphinx", base_url=base, api_key=KEY, language="en")
    pcm = conversation(["What can you do?"], IN_RATE, gap=0.5, voice=VOICE)
    event = await stt.recognize(rtc.AudioFrame(pcm.tobytes(), IN_RATE, 1, len(pcm)))
    assert {"what", "can", "do"} <= set(event.alternatives[0].text.split())

    # The plugin asks for SSE (stream_format) and decodes what comes: pcm here.
    tts = lk_openai.TTS(
        model="espeak", voice="en-us", base_url=base, api_key=KEY, response_format="pcm"
    )
    frames = [ev.frame async for ev in tts.synthesize("Hello from the gateway.")]
    samples = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    assert frames[0].sample_rate == 24000 and len(samples) > 24000
    assert int(np.abs(samples).max()) > 3000

    @llm.function_tool
    async def current_time() -> str:
        """The current time."""
        return "10:42"

    model = lk_openai.LLM(model="scripted", base_url=base, api_key=KEY)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="What time is it?")
    calls: list[llm.FunctionToolCall] = []
    async with model.chat(chat_ctx=ctx, tools=[current_time]) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.tool_calls:
                calls += chunk.delta.tool_calls
    assert [c.name for c in calls] == ["current_time"]
    for obj in (stt, tts, model):
        await obj.aclose()


async def test_agent_over_the_gateway_holds_a_spoken_conversation(
    gw: Running, registry: Registry, tmp_path: Path
) -> None:
    conf = tmp_path / "agent.yaml"
    conf.write_text(AGENT_YAML.format(base=gw.base + "/v1", voice=VOICE))
    env = {"OPENAI_API_KEY": KEY}
    agent_conf = load_config(conf, environ=env, dotenv=None, registry=registry)
    remote = build_pipeline(agent_conf, registry)
    for stage in (remote.stt, remote.llm, remote.tts):
        assert type(stage).__module__.startswith("livekit.plugins.openai")
    pcm = PCM(
        conversation(["What can you do?", "Thank you."], IN_RATE, gap=5.0, voice=VOICE), IN_RATE
    )
    lines: list[str] = []
    try:
        result = await talk(
            build_session(agent_conf, remote),
            build_agent(agent_conf, Faults()),
            pcm,
            fast=True,
            printer=lines.append,
        )
    finally:
        await remote.aclose()
    assert len(result.turns) == 2, lines
    assert {"what", "can", "do"} <= set(result.turns[0].user_text.split()), lines
    assert result.turns[0].agent_text.startswith("I can"), lines
    assert result.turns[1].agent_text, lines
    assert all(t.voice_to_voice is not None for t in result.turns), lines
    assert result.output is not None and int(np.abs(result.output.samples).max()) > 3000


ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order by its id.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}


async def test_gateway_as_llm_proxy_passes_tools_through(
    pipeline: Pipeline, registry: Registry
) -> None:
    """The original design's LLM proxy: the gateway's LLM is itself a remote OpenAI-compatible
    model (here a local server speaking the protocol); tools reach it as the client sent them."""
    upstream = FakeOpenAIServer(
        "Your order ships today.", tool_call=("lookup_order", {"order_id": "A12"})
    )
    url = await upstream.start()
    try:
        env = {"LLM_PROVIDER": "openai", "LLM_MODEL": "mistral-small", "LLM_BASE_URL": url}
        env["OPENAI_API_KEY"] = "upstream-key"
        conf = load_config(None, environ=env, dotenv=None, registry=registry)
        remote_llm = registry.build("llm", conf.spec.llm, BuildContext(env=env))
        proxy = Pipeline(stt=pipeline.stt, llm=remote_llm, tts=pipeline.tts, vad=pipeline.vad)
        async with running_gateway(proxy, conf, registry) as gw:
            client = openai.AsyncOpenAI(base_url=gw.base + "/v1", api_key=KEY, max_retries=0)
            ask = {"role": "user", "content": "Where is my order A12?"}
            r = await client.chat.completions.create(
                model="openai",
                messages=[ask],
                tools=[ORDER_TOOL],  # type: ignore[list-item]
            )
            call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
            assert call.function.name == "lookup_order"  # type: ignore[union-attr]
            assert call.function.arguments == '{"order_id": "A12"}'  # type: ignore[union-attr]
            sent = upstream.requests[0]["tools"][0]["function"]
            assert sent["name"] == "lookup_order"
            assert sent["parameters"]["properties"] == {"order_id": {"type": "string"}}
            # The tool's result goes back through the gateway; the model answers with text.
            upstream.tool_call = None
            r = await client.chat.completions.create(
                model="openai",
                messages=[
                    ask,
                    {"role": "assistant", "tool_calls": [call.model_dump()]},  # type: ignore[list-item]
                    {"role": "tool", "tool_call_id": call.id, "content": "ships today"},
                ],
                tools=[ORDER_TOOL],  # type: ignore[list-item]
            )
            assert r.choices[0].message.content == "Your order ships today."
            roles = [m["role"] for m in upstream.requests[1]["messages"]]
            assert roles[-2:] == ["assistant", "tool"]
            assert upstream.headers[0]["Authorization"] == "Bearer upstream-key"
        await remote_llm.aclose()
    finally:
        await upstream.stop()
