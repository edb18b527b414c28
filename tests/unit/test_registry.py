"""The provider registry: entry points, statuses, and the errors a user can act on."""

from __future__ import annotations

import pytest

from causerie.config.spec import ProviderSpec
from causerie.errors import MissingExtraError, MissingKeyError, ProviderError, UnknownProviderError
from causerie.providers.info import BuildContext, ProviderInfo
from causerie.providers.registry import Registry


def test_builtins_come_from_entry_points() -> None:
    reg = Registry.from_entry_points()
    assert "pocketsphinx" in reg.names("stt")
    assert {"scripted", "openai", "ollama", "anthropic"} <= set(reg.names("llm"))
    assert {"espeak", "openai", "elevenlabs", "cartesia"} <= set(reg.names("tts"))
    assert reg.names("vad") == ["silero"]
    for name in ("pocketsphinx",):
        assert reg.get("stt", name).offline


def test_unknown_provider_lists_known() -> None:
    reg = Registry.from_entry_points()
    with pytest.raises(UnknownProviderError) as err:
        reg.get("llm", "gpt5000")
    assert "scripted" in str(err.value) and "openai" in str(err.value)


def test_third_party_provider_registers_the_same_way() -> None:
    built: list[str] = []

    def build(spec: ProviderSpec, ctx: BuildContext) -> str:
        built.append(spec.model or "")
        return "an llm"

    reg = Registry([ProviderInfo(kind="llm", name="acme", build=build)])
    assert (
        reg.build("llm", ProviderSpec(provider="ACME", model="m1"), BuildContext(env={}))
        == "an llm"
    )
    assert built == ["m1"]


def test_missing_extra_gives_the_pip_command() -> None:
    info = ProviderInfo(
        kind="tts",
        name="acme",
        build=lambda s, c: None,
        modules=("no_such_module_causerie",),
        extra="acme",
    )
    assert info.status({}) == "missing_extra"
    with pytest.raises(MissingExtraError) as err:
        Registry([info]).build("tts", ProviderSpec(provider="acme"), BuildContext(env={}))
    assert "pip install 'causerie[acme]'" in str(err.value)


def test_missing_key_names_the_variable() -> None:
    info = ProviderInfo(kind="stt", name="acme", build=lambda s, c: None, key_env=("ACME_API_KEY",))
    assert info.status({}) == "missing_key"
    assert info.status({"ACME_API_KEY": "k"}) == "ready"
    with pytest.raises(MissingKeyError) as err:
        Registry([info]).build("stt", ProviderSpec(provider="acme"), BuildContext(env={}))
    assert "ACME_API_KEY" in str(err.value)
    # A key in the spec is enough too.
    Registry([info]).build("stt", ProviderSpec(provider="acme", api_key="k"), BuildContext(env={}))  # type: ignore[arg-type]


def test_builder_value_errors_become_provider_errors() -> None:
    def build(spec: ProviderSpec, ctx: BuildContext) -> None:
        raise ValueError("option rate must be between 80 and 450")

    with pytest.raises(ProviderError, match="rate must be between"):
        Registry([ProviderInfo(kind="tts", name="x", build=build)]).build(
            "tts", ProviderSpec(provider="x"), BuildContext(env={})
        )


def test_listing_every_provider_never_imports_a_vendor_sdk() -> None:
    import subprocess
    import sys

    # A fresh interpreter: other tests in this process may have imported the SDKs.
    code = (
        "import sys\n"
        "from causerie.providers.registry import Registry\n"
        "infos = Registry.from_entry_points().all()\n"
        "assert len(infos) >= 10\n"
        "bad = [m for m in sys.modules if m.startswith(('livekit.plugins.', 'faster_whisper'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vad_options_validated() -> None:
    reg = Registry.from_entry_points()
    with pytest.raises(ProviderError, match="min_silence_duration"):
        reg.build(
            "vad",
            ProviderSpec(provider="silero", options={"min_silence_duration": 10}),
            BuildContext(env={}),
        )
    with pytest.raises(ProviderError, match="unknown option"):
        reg.build(
            "vad", ProviderSpec(provider="silero", options={"speed": 1}), BuildContext(env={})
        )


def test_names_are_known_without_importing_providers() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from causerie.providers.registry import Registry\n"
        "r = Registry.from_entry_points()\n"
        "assert 'espeak' in r.names('tts') and 'pocketsphinx' in r.names('stt')\n"
        "assert 'livekit.agents' not in sys.modules, 'listing names imported livekit'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_broken_third_party_entry_point_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    from importlib.metadata import EntryPoint

    reg = Registry.from_entry_points()
    reg._lazy[("tts", "broken")] = EntryPoint(
        "tts.broken", "no_such_pkg_causerie:PROVIDER", "causerie.providers"
    )
    assert "broken" in reg.names("tts")
    with pytest.raises(UnknownProviderError):
        reg.get("tts", "broken")
    assert "skipping provider tts.broken" in caplog.text
    assert "espeak" in [i.name for i in reg.all() if i.kind == "tts"]
