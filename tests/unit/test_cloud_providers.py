"""Cloud providers up to the network boundary: each builds the vendor's real livekit plugin
object from the spec and its key, with no request made (none can be, here)."""

from __future__ import annotations

import pytest

from causerie.config.spec import ProviderSpec
from causerie.errors import MissingKeyError
from causerie.providers.info import BuildContext
from causerie.providers.registry import Registry

CASES = [
    ("llm", "openai", "OPENAI_API_KEY", "livekit.plugins.openai"),
    ("stt", "openai", "OPENAI_API_KEY", "livekit.plugins.openai"),
    ("tts", "openai", "OPENAI_API_KEY", "livekit.plugins.openai"),
    ("stt", "deepgram", "DEEPGRAM_API_KEY", "livekit.plugins.deepgram"),
    ("tts", "elevenlabs", "ELEVEN_API_KEY", "livekit.plugins.elevenlabs"),
    ("tts", "cartesia", "CARTESIA_API_KEY", "livekit.plugins.cartesia"),
    ("llm", "anthropic", "ANTHROPIC_API_KEY", "livekit.plugins.anthropic"),
]


@pytest.mark.parametrize(("kind", "name", "var", "module"), CASES)
def test_builds_with_key_and_names_missing_key(kind: str, name: str, var: str, module: str) -> None:
    pytest.importorskip(module, reason=f"extra not installed: pip install 'causerie[{name}]'")
    reg = Registry.from_entry_points()
    spec = ProviderSpec(provider=name, voice="v1" if kind == "tts" else None)
    with pytest.raises(MissingKeyError, match=var):
        reg.build(kind, spec, BuildContext(env={}))
    obj = reg.build(kind, spec, BuildContext(env={var: "test-key"}))
    assert type(obj).__module__.startswith(module)
    assert "test-key" not in repr(obj)


def test_options_reach_the_vendor_object() -> None:
    pytest.importorskip("livekit.plugins.openai")
    reg = Registry.from_entry_points()
    llm = reg.build(
        "llm",
        ProviderSpec(provider="openai", model="gpt-4o", options={"temperature": 0.2}),
        BuildContext(env={"OPENAI_API_KEY": "k"}),
    )
    assert llm.model == "gpt-4o"
    assert llm._opts.temperature == 0.2


def test_whisper_refuses_to_download() -> None:
    pytest.importorskip(
        "faster_whisper", reason="extra not installed: pip install 'causerie[whisper]'"
    )
    from causerie.errors import ProviderError

    reg = Registry.from_entry_points()
    with pytest.raises(ProviderError, match="not downloaded at run time"):
        reg.build(
            "stt",
            ProviderSpec(provider="whisper", model="tiny"),
            BuildContext(env={"HF_HUB_OFFLINE": "1"}),
        )
