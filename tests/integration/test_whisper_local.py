"""The faster-whisper provider's real loading and decoding path, on a tiny Whisper made here.

No real Whisper weights can be fetched in tests, so ``tests/whisper_model.py`` writes a
CTranslate2 Whisper with a random encoder, a crafted decoder and a locally built tokenizer.
Everything after that is the real code: the registry entry point, ``WhisperModel`` with
``local_files_only``, feature extraction, the encoder, language and task tokens in the
prompt, decoding, resampling, and livekit's ``StreamAdapter`` and ``AgentSession`` around it.
The crafted decoder transcribes any audio as ``SAYS`` ("hello") whatever the versions of
CTranslate2 or numpy, so the outcome is certain: no test depends on what random weights
happen to output.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="extra not installed: pip install 'causerie[whisper]'")
ctranslate2 = pytest.importorskip("ctranslate2")
pytest.importorskip("tokenizers")

from livekit import rtc  # noqa: E402
from livekit.agents import inference, stt  # noqa: E402
from livekit.agents.language import LanguageCode  # noqa: E402

from causerie.config.spec import ProviderSpec  # noqa: E402
from causerie.errors import ProviderError  # noqa: E402
from causerie.providers.info import BuildContext  # noqa: E402
from causerie.providers.local.whisper_stt import WhisperSTT  # noqa: E402
from causerie.providers.registry import Registry  # noqa: E402
from tests.speech import speak  # noqa: E402
from tests.whisper_model import SAYS, build_tiny_whisper  # noqa: E402

pytestmark = pytest.mark.slow
ET = stt.SpeechEventType
# A hang guard, not a timing: one recognize takes well under a second here.
HANG_GUARD_S = 120.0
SENTENCE = "I would like a cup of coffee please"


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multilingual tiny Whisper (51865 tokens, language tokens in the prompt)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-multilingual")


@pytest.fixture(scope="session")
def english_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An English-only tiny Whisper (a few hundred text tokens)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-en", multilingual=False)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    # The fallback temperatures sample: seed CTranslate2 so each test decodes the same way.
    ctranslate2.set_random_seed(1234)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_entry_points()


def build(
    registry: Registry,
    model: str,
    language: str = "en",
    base_dir: Path | None = None,
    **options: Any,
) -> Any:
    """Exactly what the pipeline does with ``stt: {provider: whisper, model: ...}``."""
    return registry.build(
        "stt",
        ProviderSpec(provider="whisper", model=model, options=options),
        BuildContext(language=language, env={}, base_dir=base_dir),
    )


def frames(pcm: np.ndarray, rate: int, channels: int = 1, ms: int = 20) -> list[rtc.AudioFrame]:
    n = rate * ms // 1000
    out = []
    for i in range(0, len(pcm), n):
        chunk = pcm[i : i + n]
        data = np.repeat(chunk, channels) if channels > 1 else chunk  # interleaved
        out.append(rtc.AudioFrame(data.astype(np.int16).tobytes(), rate, channels, len(chunk)))
    return out


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.int16)


async def recognize(engine: stt.STT, buffer: list[rtc.AudioFrame], **kw: Any) -> stt.SpeechEvent:
    """``recognize``, with the event loop shown to keep turning while the decode runs."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    tick = asyncio.create_task(ticker())
    try:
        ev = await asyncio.wait_for(engine.recognize(buffer, **kw), HANG_GUARD_S)
    finally:
        done.set()
        await tick
    # The decode runs in a thread: the loop turned meanwhile (a blocking decode gives 1).
    assert ticks > 1, "the event loop did not turn during recognize"
    return ev


def check_final(ev: stt.SpeechEvent, language: str) -> str:
    assert ev.type == ET.FINAL_TRANSCRIPT
    assert len(ev.alternatives) == 1
    alt = ev.alternatives[0]
    assert alt.text == SAYS
    # The language Whisper decoded in, as a LanguageCode (the session reads ``.language``).
    assert isinstance(alt.language, LanguageCode)
    assert alt.language == language and alt.language.language == language
    return alt.text


# -- the model itself -------------------------------------------------------------------


def test_tiny_model_loads_without_downloads(whisper_dir: Path, english_dir: Path) -> None:
    for d in (whisper_dir, english_dir):
        for f in (
            "model.bin",
            "config.json",
            "vocabulary.json",
            "tokenizer.json",
            "preprocessor_config.json",
        ):
            assert (d / f).is_file(), f

    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    m = WhisperModel(str(whisper_dir), device="cpu", compute_type="int8", local_files_only=True)
    assert m.model.is_multilingual and m.model.n_mels == 80 and m.model.num_languages == 99
    assert set(m.supported_languages) >= {"en", "fr", "de"}
    tok = m.hf_tokenizer
    assert tok.token_to_id("<|endoftext|>") == 50257  # Whisper's own ids
    assert tok.token_to_id("<|startoftranscript|>") == 50258
    assert tok.token_to_id("<|en|>") == 50259
    assert tok.token_to_id("<|notimestamps|>") == 50363
    assert tok.get_vocab_size() == 51865
    for code in ("en", "fr", "de", "es", "ja", "su"):
        assert code in _LANGUAGE_CODES

    en = WhisperModel(str(english_dir), device="cpu", compute_type="int8", local_files_only=True)
    assert not en.model.is_multilingual and en.supported_languages == ["en"]


# -- through the registry, as users build it --------------------------------------------


async def test_recognize_16k_mono(registry: Registry, whisper_dir: Path) -> None:
    engine = build(registry, str(whisper_dir))
    assert isinstance(engine, WhisperSTT)
    assert engine.provider == "whisper" and engine.model == str(whisper_dir)
    assert engine.capabilities.streaming is False
    with pytest.raises(NotImplementedError):
        engine.stream()

    pcm = np.concatenate([silence(0.3, 16000), speak(SENTENCE, 16000), silence(0.3, 16000)])
    check_final(await recognize(engine, frames(pcm, 16000)), "en")


async def test_recognize_48k_stereo_is_resampled(registry: Registry, whisper_dir: Path) -> None:
    # The agent's language is fr-FR: Whisper gets <|fr|>.
    engine = build(registry, str(whisper_dir), language="fr-FR")
    mono = np.concatenate([speak("bonjour, je voudrais un café", 48000), silence(0.2, 48000)])
    buf = frames(mono, 48000, channels=2)
    assert buf[0].sample_rate == 48000 and buf[0].num_channels == 2
    check_final(await recognize(engine, buf), "fr")

    # A per-call language wins, given as the session would ("de-DE"): Whisper gets <|de|>.
    one = rtc.combine_audio_frames(buf)
    check_final(await recognize(engine, [one], language="de-DE"), "de")


async def test_english_only_model(registry: Registry, english_dir: Path) -> None:
    engine = build(registry, str(english_dir), compute_type="float32", cpu_threads=1)
    assert engine._model.model.compute_type == "float32"
    check_final(await recognize(engine, frames(speak("good morning", 16000), 16000)), "en")
    # An English-only model cannot honour another language: refused at build, not ignored.
    with pytest.raises(ProviderError, match="English-only"):
        build(registry, str(english_dir), language="fr")


def test_model_path_relative_to_the_agent_folder(registry: Registry, whisper_dir: Path) -> None:
    engine = build(registry, whisper_dir.name, base_dir=whisper_dir.parent)
    assert isinstance(engine, WhisperSTT)
    assert engine._model.model.is_multilingual


# -- as the session runs it: non-streaming, wrapped in livekit's StreamAdapter -----------


async def test_stream_adapter_gives_a_final_per_utterance(
    registry: Registry, whisper_dir: Path
) -> None:
    engine = build(registry, str(whisper_dir))
    adapter = stt.StreamAdapter(stt=engine, vad=inference.VAD())
    assert adapter.capabilities.streaming

    rate = 48000  # what a LiveKit room delivers
    pcm = np.concatenate([silence(0.5, rate), speak(SENTENCE, rate), silence(1.5, rate)])
    events: list[stt.SpeechEvent] = []
    stream = adapter.stream()

    async def collect() -> None:
        async for ev in stream:
            events.append(ev)

    reader = asyncio.create_task(collect())
    for f in frames(pcm, rate):
        stream.push_frame(f)
        await asyncio.sleep(0)
    stream.end_input()
    await asyncio.wait_for(reader, HANG_GUARD_S)
    await stream.aclose()
    await adapter.aclose()

    kinds = [e.type for e in events]
    assert ET.START_OF_SPEECH in kinds and ET.END_OF_SPEECH in kinds, kinds
    finals = [e for e in events if e.type == ET.FINAL_TRANSCRIPT]
    assert len(finals) == 1, kinds
    check_final(finals[0], "en")


async def test_a_whole_session_turn(registry: Registry, whisper_dir: Path) -> None:
    """AgentSession itself wraps the STT (silero VAD) and reads the final's language."""
    from causerie.agent.faults import Faults
    from causerie.agent.pipeline import build_pipeline
    from causerie.agent.session import build_agent, build_session
    from causerie.audio.wav import PCM
    from causerie.config import load_config
    from causerie.transports.file import IN_RATE, talk
    from tests.speech import conversation

    env = {"STT_PROVIDER": "whisper", "STT_MODEL": str(whisper_dir)}
    loaded = load_config(None, environ=env, dotenv=None, registry=registry)
    pipeline = build_pipeline(loaded, registry)
    assert isinstance(pipeline.stt, WhisperSTT)
    pcm = PCM(conversation(["What can you do?"], IN_RATE, gap=5.0), IN_RATE)
    lines: list[str] = []
    result = await talk(
        build_session(loaded, pipeline),
        build_agent(loaded, Faults()),
        pcm,
        fast=True,
        printer=lines.append,
    )
    assert len(result.turns) == 1, lines
    assert result.turns[0].user_text == SAYS, lines
    assert result.turns[0].agent_text, lines
    assert f"user: {SAYS}" in lines, lines


# -- errors a user can act on -------------------------------------------------------------


def test_folder_without_model_bin_is_refused(
    registry: Registry, whisper_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(whisper_dir, broken, ignore=shutil.ignore_patterns("model.bin"))
    assert (broken / "tokenizer.json").is_file() and not (broken / "model.bin").exists()
    with pytest.raises(ProviderError, match="not downloaded at run time") as err:
        build(registry, str(broken))
    assert "broken" in str(err.value)


def test_unknown_option_names_the_allowed_ones(registry: Registry, whisper_dir: Path) -> None:
    with pytest.raises(ProviderError) as err:
        build(registry, str(whisper_dir), temprature=0.2)
    msg = str(err.value)
    assert "temprature" in msg
    for allowed in ("beam_size", "compute_type", "cpu_threads", "device"):
        assert allowed in msg, msg
