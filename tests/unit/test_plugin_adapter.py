"""The generic livekit-plugin adapter: every catalogue vendor built from a config line, up to
the network boundary, and a plugin Causerie has never heard of built the same way."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from causerie.config.spec import ProviderSpec
from causerie.errors import MissingExtraError, MissingKeyError, ProviderError, UnknownProviderError
from causerie.providers.catalogue import VENDORS
from causerie.providers.info import BuildContext, ProviderInfo
from causerie.providers.plugin_adapter import PluginAdapter, installed_plugins
from causerie.providers.registry import Registry

CASES = [(v, kind) for v in VENDORS for kind in v.kinds]
_CLASS = {"stt": "STT", "tts": "TTS", "llm": "LLM"}


def _fake_env(groups: tuple[tuple[str, ...], ...]) -> dict[str, str]:
    env = {var: f"fake-{var.lower()}" for var in groups[0]}
    if "AZURE_SPEECH_REGION" in env:
        env["AZURE_SPEECH_REGION"] = "westeurope"
    if "GOOGLE_APPLICATION_CREDENTIALS" in env:
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(Path(__file__).parent / "no-such-creds.json")
    return env


@pytest.mark.parametrize(("vendor", "kind"), CASES, ids=[f"{k}.{v.name}" for v, k in CASES])
def test_each_vendor_names_its_key_then_builds_its_plugin(vendor, kind) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip(
        f"livekit.plugins.{vendor.module}", reason=f"pip install 'causerie[{vendor.name}]'"
    )
    reg = Registry.from_entry_points()
    groups = vendor.key_groups(kind)
    with pytest.raises(MissingKeyError) as err:
        reg.build(kind, ProviderSpec(provider=vendor.name), BuildContext(env={}))
    for var in groups[0]:
        assert var in str(err.value)
    env = _fake_env(groups)
    obj = reg.build(kind, ProviderSpec(provider=vendor.name), BuildContext(env=env))
    cls = getattr(__import__(f"livekit.plugins.{vendor.module}", fromlist=["x"]), _CLASS[kind])
    assert isinstance(obj, cls)
    for secret in env.values():
        if secret.startswith("fake-"):
            assert secret not in repr(obj)


@pytest.mark.parametrize(
    ("kind", "name", "var", "model"),
    [
        ("llm", "mistral", "MISTRAL_API_KEY", "mistral-small-latest"),
        ("llm", "groq", "GROQ_API_KEY", "llama-3.1-8b-instant"),
        ("llm", "google", "GOOGLE_API_KEY", "gemini-2.5-flash"),
        ("stt", "groq", "GROQ_API_KEY", "whisper-large-v3"),
        ("stt", "assemblyai", "ASSEMBLYAI_API_KEY", "universal-streaming-english"),
        ("tts", "rime", "RIME_API_KEY", "mistv2"),
        ("tts", "lmnt", "LMNT_API_KEY", "aurora"),
    ],
)
def test_model_reaches_the_plugin(kind: str, name: str, var: str, model: str) -> None:
    info = PluginAdapter().resolve(kind, name)
    assert info is not None
    pytest.importorskip(info.modules[0], reason=f"pip install 'causerie[{name}]'")
    obj = Registry.from_entry_points().build(
        kind, ProviderSpec(provider=name, model=model), BuildContext(env={var: "k"})
    )
    assert obj.model == model


def test_options_are_checked_against_the_constructor() -> None:
    pytest.importorskip("livekit.plugins.mistralai")
    reg = Registry.from_entry_points()
    env = BuildContext(env={"MISTRAL_API_KEY": "k"})
    llm = reg.build(
        "llm", ProviderSpec(provider="mistral", options={"temperature": 1, "top_p": 0.5}), env
    )
    assert llm._opts.temperature == 1.0 and isinstance(llm._opts.temperature, float)
    with pytest.raises(ProviderError) as err:
        reg.build("llm", ProviderSpec(provider="mistral", options={"temprature": 0.2}), env)
    msg = str(err.value)
    assert "'temprature'" in msg and "allowed:" in msg and "temperature" in msg
    with pytest.raises(
        ProviderError, match=r"llm\.options\.temperature: 'hot' is not a valid float"
    ):
        reg.build("llm", ProviderSpec(provider="mistral", options={"temperature": "hot"}), env)


def test_azure_voice_and_region_come_from_the_merged_environment() -> None:
    pytest.importorskip("livekit.plugins.azure")
    env = {"AZURE_SPEECH_KEY": "k", "AZURE_SPEECH_REGION": "francecentral"}
    tts = Registry.from_entry_points().build(
        "tts",
        ProviderSpec(provider="azure", voice="fr-FR-DeniseNeural", language="fr-FR"),
        BuildContext(env=env),
    )
    assert tts._opts.voice == "fr-FR-DeniseNeural" and tts._opts.language == "fr-FR"
    assert tts._opts.region == "francecentral" and tts._opts.subscription_key == "k"
    with pytest.raises(MissingKeyError, match="AZURE_SPEECH_KEY and AZURE_SPEECH_REGION"):
        Registry.from_entry_points().build(
            "tts", ProviderSpec(provider="azure"), BuildContext(env={"AZURE_SPEECH_KEY": "k"})
        )


def test_language_fits_a_list_argument_and_english_is_left_to_the_vendor() -> None:
    pytest.importorskip("livekit.plugins.gladia")
    reg = Registry.from_entry_points()
    env = {"GLADIA_API_KEY": "k"}
    stt = reg.build("stt", ProviderSpec(provider="gladia"), BuildContext(language="fr", env=env))
    assert stt._opts.language_config.languages == ["fr"]
    stt = reg.build("stt", ProviderSpec(provider="gladia"), BuildContext(language="en", env=env))
    assert not stt._opts.language_config.languages


def test_missing_extra_and_unknown_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry.from_entry_points()
    info = reg.get("tts", "lmnt")
    assert info.extra == "lmnt" and info.package == "livekit-plugins-lmnt"
    missing = ProviderInfo(**{**info.__dict__, "modules": ("livekit.plugins.no_such_vendor",)})
    with pytest.raises(MissingExtraError, match=r"pip install 'causerie\[lmnt\]'"):
        missing.check(None, {})
    with pytest.raises(UnknownProviderError, match="livekit-plugins-nosuchvendor"):
        reg.get("stt", "nosuchvendor")
    with pytest.raises(UnknownProviderError):  # gladia has no TTS
        reg.get("tts", "gladia")


def test_curated_modules_keep_precedence() -> None:
    reg = Registry.from_entry_points()
    assert reg.get("llm", "openai").build.__module__ == "causerie.providers.cloud.openai"
    assert {"mistral", "groq", "google"} <= set(reg.names("llm"))
    assert {i.qualified for i in reg.all()} >= {"stt.assemblyai", "tts.rime", "llm.mistral"}


_ACME = """
from livekit.agents import tts


class TTS(tts.TTS):
    def __init__(self, *, voice: str = "ada", speed: float = 1.0, api_key: str | None = None):
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=16000, num_channels=1
        )
        self.voice, self.speed, self.api_key = voice, speed, api_key

    def synthesize(self, text, *, conn_options=None):
        raise NotImplementedError
"""


def test_a_plugin_causerie_never_heard_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "livekit" / "plugins" / "acmevoice"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(_ACME)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "livekit.plugins.acmevoice", raising=False)
    assert "acmevoice" in installed_plugins()
    reg = Registry.from_entry_points()
    ctx = BuildContext(env={"ACMEVOICE_API_KEY": "sk-acme"})
    obj = reg.build(
        "tts", ProviderSpec(provider="acmevoice", voice="bob", options={"speed": 1.5}), ctx
    )
    assert (obj.voice, obj.speed, obj.api_key) == ("bob", 1.5, "sk-acme")
    with pytest.raises(ProviderError, match=r"speed: 'fast' is not a valid float"):
        reg.build("tts", ProviderSpec(provider="acmevoice", options={"speed": "fast"}), ctx)
    with pytest.raises(ProviderError, match="has no LLM class; it offers: tts"):
        reg.build("llm", ProviderSpec(provider="acmevoice"), ctx)
    with pytest.raises(ProviderError, match="takes no model"):
        reg.build("tts", ProviderSpec(provider="acmevoice", model="m"), ctx)


def test_a_realtime_stt_gets_the_pipelines_vad() -> None:
    pytest.importorskip("livekit.plugins.speechmatics")
    reg = Registry.from_entry_points()
    vad = reg.build("vad", ProviderSpec(provider="silero"), BuildContext(env={}))
    ctx = BuildContext(env={"SPEECHMATICS_API_KEY": "k"}, vad=vad)
    stt = reg.build("stt", ProviderSpec(provider="speechmatics"), ctx)
    assert stt._vad is vad
