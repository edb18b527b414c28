"""Fault matrix: the TTS raising mid-sentence.

A fake TTS (subclassing livekit's ``tts.TTS``, speaking with the real espeak engine) breaks
halfway through one sentence. The reply's text still reaches the transcript and the store,
the user hears a short apology, and the next turn is spoken in full."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from livekit.agents import APIConnectionError, APIConnectOptions, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from causerie.agent.faults import apology
from causerie.agent.pipeline import build_pipeline
from causerie.providers.registry import Registry
from causerie.server import create_app
from tests.e2e.harness import ServerThread, WsClient

pytestmark = pytest.mark.slow


class FlakyTTS(tts.TTS):
    """espeak, except that synthesis number ``fail_on`` stops halfway with an error."""

    def __init__(self, inner: Any, fail_on: int) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=inner.sample_rate,
            num_channels=1,
        )
        self.inner, self.fail_on, self.calls = inner, fail_on, 0
        self.texts: list[str] = []

    @property
    def provider(self) -> str:
        return "flaky-espeak"

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        self.calls += 1
        self.texts.append(text)
        return _Stream(
            tts=self, input_text=text, conn_options=conn_options, fail=self.calls == self.fail_on
        )


class _Stream(tts.ChunkedStream):
    def __init__(
        self, *, tts: FlakyTTS, input_text: str, conn_options: APIConnectOptions, fail: bool
    ) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._flaky, self._fail = tts, fail

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        inner = self._flaky.inner
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=inner.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        async with inner.synthesize(self.input_text) as stream:
            frames = [ev.frame async for ev in stream]
        for i, frame in enumerate(frames):
            if self._fail and i >= len(frames) // 2:
                raise APIConnectionError("tts connection dropped mid-sentence", retryable=False)
            output_emitter.push(frame.data.tobytes())
        output_emitter.flush()


class FlakyServer(ServerThread):
    """The test server with the real pipeline, but a TTS that breaks once."""

    def __init__(self, fail_on: int) -> None:
        super().__init__(max_sessions=2)
        loaded = self.app.state.loaded
        self.pipeline = build_pipeline(loaded, Registry.from_entry_points())
        self.tts = self.pipeline.tts = FlakyTTS(self.pipeline.tts, fail_on)
        self.app = create_app(self.settings, loaded=loaded, pipeline=self.pipeline)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)


@pytest.fixture(scope="module", name="server")
def _server() -> Iterator[FlakyServer]:
    server = FlakyServer(fail_on=1)
    server.start()
    yield server
    server.call(server.pipeline.aclose)  # its own pipeline (the app does not close one given)
    server.stop()


async def say(c: WsClient, text: str) -> dict[str, Any]:
    n = len([e for e in c.of("agent_transcript") if e["final"]])
    await c.ws.send(f'{{"type": "text", "text": "{text}"}}')
    await c.wait_for(
        lambda e: (
            e["type"] == "agent_transcript"
            and e["final"]
            and len([x for x in c.of("agent_transcript") if x["final"]]) > n
        ),
        within=60,
    )
    await c.wait_for(lambda e: e["type"] == "agent_state" and e["state"] == "listening")
    return [e for e in c.of("agent_transcript") if e["final"]][n]


async def test_tts_failing_mid_sentence(server: FlakyServer) -> None:
    sorry = apology("en")
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        first = await say(c, "what can you do")
        # The whole reply is in the transcript, though its first sentence broke off...
        assert first["text"].startswith("I can greet you") and "language model" in first["text"]
        assert [e["code"] for e in c.of("error")] == ["tts_failed"]
        # ...and the user heard the apology instead of the rest.
        assert server.tts.texts[0] == "I can greet you, tell the time, and repeat what I said."
        assert " ".join(server.tts.texts[1:3]) == sorry  # its two sentences
        heard = len([a for a in c.audio if a.audible])
        assert heard > 25, "the apology was spoken (over half a second of audible audio)"
        second = await say(c, "who are you")
        assert second["text"].startswith("I'm Causerie")
        assert server.tts.texts[-1] in second["text"]  # spoken to the end
        assert len([a for a in c.audio if a.audible]) > heard + 25
        session_id = server.manager.sessions()[0].session_id
    server.wait_idle()
    store = server.app.state.metrics.store
    server.call(lambda: store.flush(10))
    rec = server.call(lambda: store.get_session(session_id))
    assert [t.agent_text for t in rec.turns] == [first["text"], second["text"]]
    errors = server.call(lambda: store.list_errors(session_id=session_id))
    assert [e.component for e in errors] == ["tts"]
