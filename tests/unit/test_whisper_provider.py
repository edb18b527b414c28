"""The whisper provider's own decisions, asserted on what faster-whisper is given (never on
what random weights transcribe): VAD filtering, the detected language, folder errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="extra not installed: pip install 'causerie[whisper]'")

from faster_whisper import WhisperModel
from livekit import rtc

from causerie.config.spec import ProviderSpec
from causerie.errors import ProviderError
from causerie.providers.info import BuildContext
from causerie.providers.local.whisper_stt import WhisperSTT, _build, load_model
from tests.whisper_model import build_tiny_whisper


class RecordingWhisper(WhisperModel):
    """The real model; records the arguments of each transcribe() and what it detected."""

    calls: list[dict[str, Any]]
    detected: list[str]

    def transcribe(self, audio: Any, **kw: Any) -> Any:  # type: ignore[override]
        self.calls.append({"samples": len(audio), **kw})
        segments, info = super().transcribe(audio, **kw)
        self.detected.append(info.language)
        return segments, info


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> RecordingWhisper:
    m = RecordingWhisper(str(model_dir), device="cpu", compute_type="int8", local_files_only=True)
    m.calls, m.detected = [], []
    return m


def buffer(seconds: float) -> list[rtc.AudioFrame]:
    pcm = (np.sin(np.arange(int(seconds * 16000)) / 9) * 3000).astype(np.int16)
    return [rtc.AudioFrame(pcm.tobytes(), 16000, 1, len(pcm))]


async def test_vad_filter_on_long_buffers_only_by_default(model: RecordingWhisper) -> None:
    engine = WhisperSTT(model, model_name="tiny", language="en")
    await engine.recognize(buffer(2.0))
    await engine.recognize(buffer(12.0))
    assert [c["vad_filter"] for c in model.calls[-2:]] == [False, True]
    forced = WhisperSTT(model, model_name="tiny", language="en", vad_filter=True)
    await forced.recognize(buffer(2.0))
    assert model.calls[-1]["vad_filter"] is True


async def test_detected_language_is_reported(model: RecordingWhisper) -> None:
    engine = WhisperSTT(model, model_name="tiny", language=None)
    event = await engine.recognize(buffer(1.0))
    assert model.calls[-1]["language"] is None  # nothing forced: Whisper detects
    assert event.alternatives[0].language == model.detected[-1]
    pinned = await WhisperSTT(model, model_name="tiny", language="fr").recognize(buffer(1.0))
    assert model.calls[-1]["language"] == "fr" and pinned.alternatives[0].language == "fr"


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ProviderError, match=r"not a CTranslate2 Whisper model folder.*model\.bin"):
        load_model(str(tmp_path), None, {})
    (tmp_path / "model.bin").write_bytes(b"garbage")
    with pytest.raises(ProviderError, match=r"config\.json"):
        load_model(str(tmp_path), None, {})
    with pytest.raises(ProviderError, match="is a file"):
        load_model(str(tmp_path / "notes.txt"), None, {})


def test_relative_folder_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "models" / "whisper").mkdir(parents=True)
    spec = ProviderSpec(provider="whisper", model="models/whisper")
    with pytest.raises(ProviderError, match="models/whisper"):
        _build(spec, BuildContext(language="en", env={}, base_dir=tmp_path))


def test_vad_filter_option_checked(model_dir: Path) -> None:
    spec = ProviderSpec(provider="whisper", model=str(model_dir), options={"vad_filter": "yes"})
    with pytest.raises(ProviderError, match="vad_filter: must be true, false or null"):
        _build(spec, BuildContext(language="en", env={}, base_dir=None))
