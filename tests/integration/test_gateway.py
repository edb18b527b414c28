"""``causerie gateway`` over HTTP with the real offline engines: every endpoint, every
refusal in OpenAI's error shape, concurrency limits and clients that go away mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
from livekit.agents import llm, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from causerie.agent.pipeline import Pipeline, build_pipeline
from causerie.config import load_config
from causerie.config.loader import LoadedConfig
from causerie.gateway.engines import Engines
from causerie.providers.info import ProviderInfo
from causerie.providers.local.espeak_tts import EspeakTTS
from causerie.providers.local.pocketsphinx_stt import PocketSphinxSTT
from causerie.providers.registry import Registry
from tests.audio_files import encode
from tests.fakes import FlakyLLM
from tests.gateway_harness import Running, running_gateway
from tests.speech import conversation

pytestmark = pytest.mark.slow
VOICE = "en-us+f2"  # the espeak voice pocketsphinx understands best
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "current_time",
        "description": "The current time.",
        "parameters": {"type": "object", "properties": {}},
    },
}


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


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    return conversation(["What can you do?"], 16000, gap=0.5, voice=VOICE)


@pytest.fixture
async def gw(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry
) -> AsyncIterator[Running]:
    async with running_gateway(pipeline, loaded, registry) as running:
        yield running


@pytest.fixture
async def http(gw: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as client:
        yield client


def assert_openai_error(r: httpx.Response, status: int, code: str, param: str | None) -> str:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["code"], err["param"]) == (code, param), err
    assert err["message"]
    return str(err["message"])


async def _transcribe(http: httpx.AsyncClient, data: bytes, name: str, **form: str) -> Any:
    fields = {"model": "pocketsphinx", **form}
    return await http.post("/v1/audio/transcriptions", files={"file": (name, data)}, data=fields)


# -- endpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "webm"])
async def test_transcription_of_each_container(
    http: httpx.AsyncClient, question: np.ndarray, ext: str
) -> None:
    r = await _transcribe(http, encode(question, 16000, ext), f"q.{ext}")
    assert r.status_code == 200, r.text
    words = set(r.json()["text"].split())
    if ext in ("wav", "flac"):  # lossless: the same samples as the question
        assert {"what", "can"} <= words
    else:
        # A lossy codec changes the samples, and pocketsphinx may then lose a word of
        # synthetic speech ("what a new roof" from mp3 in one run of ten): the question was
        # still decoded and heard as speech, not as silence or noise.
        assert "what" in words and len(words) >= 3


async def test_transcription_formats(http: httpx.AsyncClient, question: np.ndarray) -> None:
    wav = encode(question, 16000, "wav")
    text = (await _transcribe(http, wav, "q.wav", response_format="text")).text
    assert "can you" in text
    verbose = (await _transcribe(http, wav, "q.wav", response_format="verbose_json")).json()
    seg = verbose["segments"][0]
    # The speech starts after 0.5 s of silence (tests/speech.py) and ends before the file.
    assert 0.3 < seg["start"] < seg["end"] <= verbose["duration"]
    assert verbose["language"] == "en"
    srt = (await _transcribe(http, wav, "q.wav", response_format="srt")).text
    assert srt.startswith("1\n00:00:00,") and "can you" in srt
    vtt = (await _transcribe(http, wav, "q.wav", response_format="vtt")).text
    assert vtt.startswith("WEBVTT") and "can you" in vtt


async def test_transcription_streamed_as_events(
    http: httpx.AsyncClient, question: np.ndarray
) -> None:
    wav = encode(question, 16000, "wav")
    events: list[dict[str, Any]] = []
    async with http.stream(
        "POST",
        "/v1/audio/transcriptions",
        files={"file": ("q.wav", wav)},
        data={"model": "pocketsphinx", "stream": "true"},
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(httpx.Response(200, content=line[6:]).json())
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "transcript.text.done" and "transcript.text.delta" in kinds
    deltas = "".join(e["delta"] for e in events if e["type"] == "transcript.text.delta")
    assert deltas == events[-1]["text"] and "can" in deltas.split()


class StreamOnlySTT(PocketSphinxSTT):
    """pocketsphinx without whole-file recognition, as streaming-only vendors are."""

    async def _recognize_impl(self, buffer: Any, **kw: Any) -> Any:
        raise NotImplementedError


async def test_streaming_only_stt_still_transcribes(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry, question: np.ndarray
) -> None:
    stt = StreamOnlySTT()
    only = Pipeline(stt=stt, llm=pipeline.llm, tts=pipeline.tts, vad=pipeline.vad)
    try:
        async with running_gateway(only, loaded, registry) as gw:
            async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
                # Silence first: the streaming decoder's level adapts before the question.
                audio = np.concatenate([np.zeros(16000, np.int16), question])
                r = await _transcribe(http, encode(audio, 16000, "wav"), "q.wav")
                assert r.status_code == 200, r.text
                assert "can" in r.json()["text"].split()
    finally:
        await stt.aclose()


async def test_speech_streams_pcm_in_the_configured_voice(http: httpx.AsyncClient) -> None:
    body = {"model": "espeak", "input": "Hello there.", "response_format": "pcm"}
    r = await http.post("/v1/audio/speech", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/pcm"
    pcm = np.frombuffer(r.content, dtype=np.int16)
    assert 0.5 < len(pcm) / 24000 < 3.0 and int(np.abs(pcm).max()) > 3000
    # Another espeak voice, built on demand; twice as fast is about half as long.
    fast = await http.post("/v1/audio/speech", json={**body, "voice": "en-gb", "speed": 2.0})
    assert fast.status_code == 200
    assert len(fast.content) < 0.7 * len(r.content)


async def test_chat_completion_with_tools_round_trip(http: httpx.AsyncClient) -> None:
    ask = {"role": "user", "content": "What time is it?"}
    r = await http.post(
        "/v1/chat/completions", json={"model": "scripted", "messages": [ask], "tools": [TIME_TOOL]}
    )
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "current_time" and call["type"] == "function"
    # The client runs the tool and sends its output back: the LLM phrases it.
    messages = [
        ask,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "It is 10:42."},
    ]
    r = await http.post(
        "/v1/chat/completions",
        json={"model": "scripted", "messages": messages, "tools": [TIME_TOOL]},
    )
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "stop" and "10:42" in choice["message"]["content"]


async def test_models_health_and_metrics(http: httpx.AsyncClient, question: np.ndarray) -> None:
    ids = [m["id"] for m in (await http.get("/v1/models")).json()["data"]]
    assert ids == ["pocketsphinx/en-us", "espeak/espeak-ng", "scripted/smalltalk"]
    assert (await http.get("/healthz")).json()["status"] == "ok"
    await _transcribe(http, encode(question, 16000, "wav"), "q.wav")
    await http.post("/v1/audio/speech", json={"model": "espeak", "input": "Hi.", "voice": "x!"})
    text = (await http.get("/metrics")).text
    endpoint = 'endpoint="/v1/audio/transcriptions"'
    assert f"causerie_gateway_request_seconds_count{{{endpoint}}} 1.0" in text
    assert f"causerie_gateway_real_time_factor_count{{{endpoint}}} 1.0" in text
    assert (
        'causerie_gateway_errors_total{code="invalid_voice",endpoint="/v1/audio/speech",'
        'status="400"} 1.0' in text
    )


# -- refusals -------------------------------------------------------------------------------


async def test_no_key_and_wrong_key(gw: Running) -> None:
    async with httpx.AsyncClient(base_url=gw.base, timeout=60) as anon:
        r = await anon.get("/v1/models")
        assert_openai_error(r, 401, "missing_api_key", None)
        assert r.headers["www-authenticate"] == "Bearer"
        r = await anon.get("/v1/models", headers={"Authorization": "Bearer nope"})
        assert_openai_error(r, 401, "invalid_api_key", None)
        # Health and metrics stay open for probes and Prometheus.
        assert (await anon.get("/healthz")).status_code == 200


async def test_a_query_parameter_given_twice(http: httpx.AsyncClient) -> None:
    """FastAPI would keep the last value silently; which one was meant?"""
    r = await http.get("/v1/models", params=[("owned_by", "a"), ("owned_by", "b")])
    assert_openai_error(r, 400, "invalid_value", "owned_by")
    assert r.json()["error"]["message"] == "owned_by: given more than once; give it once"


async def test_bad_uploads(http: httpx.AsyncClient, question: np.ndarray) -> None:
    r = await _transcribe(http, b"just some text\n" * 100, "notes.txt")
    assert "supported formats" in assert_openai_error(r, 400, "invalid_file_format", "file")
    wav = encode(question, 16000, "wav")
    r = await _transcribe(http, wav[: len(wav) // 2], "cut.wav")
    assert "truncated" in assert_openai_error(r, 400, "invalid_file_format", "file")
    r = await _transcribe(http, wav, "q.wav", model="whisper-1")
    assert "pocketsphinx" in assert_openai_error(r, 404, "model_not_found", "model")
    r = await _transcribe(http, wav, "q.wav", response_format="docx")
    assert_openai_error(r, 400, "invalid_value", "response_format")
    r = await http.post("/v1/audio/transcriptions", data={"model": "pocketsphinx"})
    assert_openai_error(r, 400, "invalid_value", "file")


async def test_too_long_and_too_big(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry, question: np.ndarray
) -> None:
    wav = encode(question, 16000, "wav")
    limits = {"max_audio_seconds": 1.0, "max_upload_bytes": len(wav) + 1000}
    async with running_gateway(pipeline, loaded, registry, **limits) as gw:
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            r = await _transcribe(http, wav, "q.wav")
            assert "maximum is 1 s" in assert_openai_error(r, 400, "audio_too_long", "file")
            big = encode(np.tile(question, 2), 16000, "wav")
            r = await _transcribe(http, big, "big.wav")
            assert_openai_error(r, 413, "file_too_large", "file")

            async def chunked() -> AsyncIterator[bytes]:  # no Content-Length to trust
                yield big

            r = await http.post(
                "/v1/audio/transcriptions",
                content=chunked(),
                headers={"Content-Type": "multipart/form-data; boundary=x"},
            )
            assert_openai_error(r, 413, "file_too_large", "file")


async def test_speech_refusals(http: httpx.AsyncClient) -> None:
    ok = {"model": "espeak", "input": "Hello."}
    r = await http.post("/v1/audio/speech", json={**ok, "voice": "klingon-warrior"})
    assert "espeak voice" in assert_openai_error(r, 400, "invalid_voice", "voice")
    r = await http.post("/v1/audio/speech", json={**ok, "input": "   "})
    assert_openai_error(r, 400, "invalid_value", "input")
    r = await http.post("/v1/audio/speech", json={**ok, "model": "tts-1"})
    assert_openai_error(r, 404, "model_not_found", "model")
    r = await http.post("/v1/audio/speech", json={**ok, "response_format": "aiff"})
    assert_openai_error(r, 400, "invalid_value", "response_format")
    r = await http.post("/v1/audio/speech", json={**ok, "speed": 9})
    assert_openai_error(r, 400, "invalid_value", "speed")


async def test_chat_refusals(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/chat/completions", json={"model": "scripted", "messages": []})
    assert_openai_error(r, 400, "invalid_value", "messages")
    r = await http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert_openai_error(r, 404, "model_not_found", "model")
    r = await http.post(
        "/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


# -- concurrency, timeouts, disconnects --------------------------------------------------


class DripLLM(llm.LLM):
    """Says one word, then nothing until it is closed; counts the streams still open."""

    def __init__(self) -> None:
        super().__init__()
        self.open_streams = 0

    def chat(self, *, chat_ctx: llm.ChatContext, **kw: Any) -> llm.LLMStream:
        conn: APIConnectOptions = kw.get("conn_options", DEFAULT_API_CONNECT_OPTIONS)
        return _Drip(self, chat_ctx=chat_ctx, tools=[], conn_options=conn)


class _Drip(llm.LLMStream):
    async def _run(self) -> None:
        owner: DripLLM = self._llm  # type: ignore[assignment]
        owner.open_streams += 1
        try:
            self._event_ch.send_nowait(
                llm.ChatChunk(id="drip", delta=llm.ChoiceDelta(role="assistant", content="Well"))
            )
            await asyncio.Event().wait()
        finally:
            owner.open_streams -= 1


async def _until(predicate: Any, what: str) -> None:
    """Polls state owned by the server (no event to wait on), with a generous bound."""
    async with asyncio.timeout(10.0):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert predicate(), what


def _with(pipeline: Pipeline, model: llm.LLM) -> Pipeline:
    return Pipeline(stt=pipeline.stt, llm=model, tts=pipeline.tts, vad=pipeline.vad)


async def test_per_key_concurrency_gives_429_with_retry_after(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry
) -> None:
    drip = DripLLM()
    chat = {"model": "scripted", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with running_gateway(
        _with(pipeline, drip), loaded, registry, max_concurrent_per_key=1, retry_after=3
    ) as gw:
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            async with http.stream("POST", "/v1/chat/completions", json=chat) as first:
                assert first.status_code == 200
                r = await http.get("/v1/models")
                assert_openai_error(r, 429, "concurrency_limit_exceeded", None)
                assert r.headers["retry-after"] == "3"
                assert r.json()["error"]["type"] == "rate_limit_error"
            # The stream's slot is given back when its client leaves.
            await _until(lambda: gw.in_flight() == 0, "slot released")
            assert (await http.get("/v1/models")).status_code == 200


async def test_request_timeout(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry
) -> None:
    stalled = FlakyLLM({1}, mode="stall")
    chat = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
    async with running_gateway(
        _with(pipeline, stalled), loaded, registry, request_timeout=0.5
    ) as gw:
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            r = await http.post("/v1/chat/completions", json=chat)
            assert_openai_error(r, 504, "timeout", None)
            # The next call (not stalled) is served.
            r = await http.post("/v1/chat/completions", json=chat)
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    # A stream that started (200 sent) and then stalls ends with an error event.
    drip = DripLLM()
    async with running_gateway(_with(pipeline, drip), loaded, registry, request_timeout=0.5) as gw:
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            r = await http.post("/v1/chat/completions", json={**chat, "stream": True})
            assert r.status_code == 200
            events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
            assert '"content":"Well"' in events[1]
            assert httpx.Response(200, content=events[-1]).json()["error"]["code"] == "timeout"
            await _until(lambda: drip.open_streams == 0, "LLM stream closed")


async def test_failing_engine_is_a_502_counted_and_logged(
    pipeline: Pipeline,
    loaded: LoadedConfig,
    registry: Registry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = FlakyLLM({1, 2})  # the first two calls fail, the next ones answer
    chat = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
    async with running_gateway(_with(pipeline, flaky), loaded, registry) as gw:
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            r = await http.post("/v1/chat/completions", json=chat)
            assert "upstream exploded" in assert_openai_error(r, 502, "provider_error", None)
            # Streamed: the failure comes before the first chunk, so it is a status too.
            r = await http.post("/v1/chat/completions", json={**chat, "stream": True})
            assert_openai_error(r, 502, "provider_error", None)
            r = await http.post("/v1/chat/completions", json=chat)
            assert r.status_code == 200
            text = (await http.get("/metrics")).text
    assert (
        'causerie_gateway_errors_total{code="provider_error",endpoint="/v1/chat/completions",'
        'status="502"} 2.0' in text
    )
    assert any("provider_error" in rec.getMessage() for rec in caplog.records)


class VendorLikeTTS(EspeakTTS):
    """espeak, but asking for livekit's job HTTP session first, as aiohttp-based vendor
    plugins (ElevenLabs, Cartesia...) do."""

    def synthesize(self, text: str, **kw: Any) -> Any:
        assert not utils.http_context.http_session().closed
        return super().synthesize(text, **kw)


async def test_vendor_plugins_get_an_http_session(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry
) -> None:
    vendor = Pipeline(stt=pipeline.stt, llm=pipeline.llm, tts=VendorLikeTTS(), vad=pipeline.vad)
    async with running_gateway(vendor, loaded, registry) as gw:
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            r = await http.post("/v1/audio/speech", json={"model": "espeak", "input": "Hi."})
            assert r.status_code == 200 and len(r.content) > 1000


async def test_client_leaving_mid_stream_frees_everything(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry
) -> None:
    drip = DripLLM()
    chat = {"model": "scripted", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    long_text = "This sentence is spoken again and again. " * 90
    speech = {"model": "espeak", "input": long_text, "response_format": "pcm"}
    async with running_gateway(_with(pipeline, drip), loaded, registry) as gw:
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            assert (await http.get("/v1/models")).status_code == 200
        baseline = len(asyncio.all_tasks())
        for path, body in (("/v1/chat/completions", chat), ("/v1/audio/speech", speech)):
            async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
                async with http.stream("POST", path, json=body) as r:
                    assert r.status_code == 200
                    async for _chunk in r.aiter_bytes():
                        break  # one chunk, then hang up with the rest unread
            await _until(lambda: gw.in_flight() == 0, f"{path}: slot released")
            await _until(lambda: drip.open_streams == 0, "LLM stream closed")
            await _until(lambda: len(asyncio.all_tasks()) <= baseline, f"{path}: tasks ended")
        # The server goes on serving.
        async with httpx.AsyncClient(base_url=gw.base, headers=gw.headers, timeout=60) as http:
            r = await http.post("/v1/audio/speech", json={**speech, "input": "Still here."})
            assert r.status_code == 200 and len(r.content) > 1000


class ClosingTTS(EspeakTTS):
    closed: ClassVar[list[str]] = []

    async def aclose(self) -> None:
        ClosingTTS.closed.append(self.voice)
        await super().aclose()


async def test_evicted_voice_closes_after_the_requests_using_it(
    pipeline: Pipeline, loaded: LoadedConfig
) -> None:
    own = Registry(
        [
            ProviderInfo(
                kind="tts",
                name="espeak",
                build=lambda spec, ctx: ClosingTTS(voice=spec.voice, language=ctx.language),
            )
        ]
    )
    engines = Engines(pipeline, loaded, own, grace=0.2)
    voices = ["en-us+f1", "en-us+f2", "en-us+f3", "en-us+f4", "en-us+m1", "en-us+m2"]
    voices += ["en-gb", "fr-fr", "de"]  # one more than are kept
    first = await engines.tts_for(voices[0])
    for v in voices[1:]:
        await engines.tts_for(v)
    assert ClosingTTS.closed == []  # evicted, still usable by a request that holds it
    async with first.synthesize("still here") as s:
        assert [ev async for ev in s]
    async with asyncio.timeout(10):
        while not ClosingTTS.closed:  # noqa: ASYNC110 - closed by the engines' own task
            await asyncio.sleep(0.05)
    assert ClosingTTS.closed == ["en-us+f1"]
    assert await engines.tts_for("en-us+f1") is not first  # built again on demand
    await engines.aclose()
    # Closing the engines closes every voice: kept, retiring, and the first's second build.
    assert sorted(ClosingTTS.closed) == sorted([*voices, "en-us+f1"])
