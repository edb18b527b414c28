"""The provider contract, over every registered provider: the ``causerie.providers`` entry
points and the catalogue's livekit plugins (the generic adapter).

Each one builds from a config line (cloud ones with a marker key, and no socket may connect),
declares a typed options model that refuses a misspelt or mistyped option by name, and
reports a missing extra (with its ``pip install`` command) or a missing key (with the
variables to set) the same way as every other.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from causerie.config.options import allowed
from causerie.config.spec import AgentSpec, ProviderSpec
from causerie.errors import MissingExtraError, MissingKeyError, ProviderError
from causerie.providers.info import BuildContext, ProviderInfo
from causerie.providers.registry import Registry
from causerie.runtime.checks import check_provider_options

PROVIDERS = Registry.from_entry_points().all()
IDS = [info.qualified for info in PROVIDERS]
MARKER = "contract-test-key"
EXTRAS = set(importlib.metadata.metadata("causerie").get_all("Provides-Extra") or [])


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a provider must not reach the network: an IP connection raises."""

    def refuse(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"a provider tried to connect to {address!r} while building")
        return real_connect(self, address)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _env(info: ProviderInfo) -> dict[str, str]:
    """Marker values for the first group of key variables."""
    groups = info.key_groups or (((info.key_env[0],),) if info.key_env else ())
    env = {var: f"{MARKER}-{var.lower()}" for var in (groups[0] if groups else ())}
    if "AZURE_SPEECH_REGION" in env:
        env["AZURE_SPEECH_REGION"] = "westeurope"
    if "GOOGLE_APPLICATION_CREDENTIALS" in env:
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(Path(__file__).parent / "no-such-creds.json")
    return env


def _spec(info: ProviderInfo, tmp_path: Path, **options: Any) -> ProviderSpec:
    model = None
    if info.qualified == "stt.whisper":  # a local model folder: nothing is downloaded
        from tests.whisper_model import build_tiny_whisper

        model = str(build_tiny_whisper(tmp_path / "whisper"))
    voice = "v1" if info.kind == "tts" and info.name != "espeak" else None
    return ProviderSpec(provider=info.name, model=model, voice=voice, options=options)


def _installed(info: ProviderInfo) -> None:
    missing = info.missing_module()
    if missing is not None:  # reported as test_missing_extra_* checks
        pytest.skip(f"{missing} not installed: pip install 'causerie[{info.extra}]'")


_BASES = {"stt": "livekit.agents.stt:STT", "tts": "livekit.agents.tts:TTS"}
_BASES |= {"llm": "livekit.agents.llm:LLM", "vad": "livekit.agents.vad:VAD"}


def _base(kind: str) -> type:
    module, _, name = _BASES[kind].partition(":")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


@pytest.mark.parametrize("info", PROVIDERS, ids=IDS)
async def test_builds_from_a_config_line(info: ProviderInfo, tmp_path: Path) -> None:
    _installed(info)
    env = _env(info)
    obj = Registry.from_entry_points().build(
        info.kind, _spec(info, tmp_path), BuildContext(env=env, base_dir=tmp_path)
    )
    try:
        assert isinstance(obj, _base(info.kind))
        for value in env.values():
            if value.startswith(MARKER):
                assert value not in repr(obj), "a key reached the provider's repr"
    finally:
        close = getattr(obj, "aclose", None)
        if close is not None and inspect.iscoroutinefunction(close):
            await close()


@pytest.mark.parametrize("info", PROVIDERS, ids=IDS)
def test_declares_a_typed_options_model(info: ProviderInfo) -> None:
    assert info.options is not None, f"{info.qualified} declares no options model"
    _installed(info)
    model = info.options_model()
    assert model is not None
    assert model.model_config.get("extra") == "forbid", "unknown options must be refused"


@pytest.mark.parametrize("info", PROVIDERS, ids=IDS)
def test_a_misspelt_option_is_named_with_the_allowed_ones(
    info: ProviderInfo, tmp_path: Path
) -> None:
    _installed(info)
    reg = Registry.from_entry_points()
    spec = _spec(info, tmp_path, sampel_rate=16000)
    field = f"{info.kind}.options.sampel_rate"
    with pytest.raises(ProviderError) as err:
        reg.build(info.kind, spec, BuildContext(env=_env(info), base_dir=tmp_path))
    msg = str(err.value)
    assert msg.startswith(f"{field}: unknown option 'sampel_rate'; allowed: "), msg
    model = info.options_model()
    assert model is not None and next(iter(model.model_fields)) in msg
    # `causerie config check` and the studio say the same, at the same field.
    agent = AgentSpec.model_validate({info.kind: spec.model_dump(exclude_none=True)})
    problems = check_provider_options(agent, reg)
    assert [(p.field, p.message) for p in problems] == [(field, msg.partition(": ")[2])]


@pytest.mark.parametrize("info", PROVIDERS, ids=IDS)
def test_a_mistyped_option_is_named(info: ProviderInfo, tmp_path: Path) -> None:
    _installed(info)
    model = info.options_model()
    assert model is not None
    # The first option that refuses a mapping (a number, a flag, a name, a list...).
    bad = {"not": "an option value"}
    name = next((n for n in allowed(model) if _refuses(model, n, bad)), None)
    if name is None:
        pytest.skip("every option takes a mapping")
    spec = _spec(info, tmp_path, **{name: bad})
    with pytest.raises(ProviderError, match=rf"^{info.kind}\.options\.{name}: .*"):
        Registry.from_entry_points().build(
            info.kind, spec, BuildContext(env=_env(info), base_dir=tmp_path)
        )


def _refuses(model: type[BaseModel], name: str, value: Any) -> bool:
    try:
        model.model_validate({name: value})
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize("info", [i for i in PROVIDERS if i.key_env], ids=lambda i: i.qualified)
def test_a_missing_key_names_the_variables(info: ProviderInfo, tmp_path: Path) -> None:
    _installed(info)
    with pytest.raises(MissingKeyError) as err:
        Registry.from_entry_points().build(info.kind, _spec(info, tmp_path), BuildContext(env={}))
    for var in (info.key_groups or (info.key_env,))[0]:
        assert var in str(err.value)
    assert f"{info.kind}.api_key" in str(err.value)


@pytest.mark.parametrize("info", [i for i in PROVIDERS if i.modules], ids=lambda i: i.qualified)
def test_a_missing_extra_gives_the_install_command(
    info: ProviderInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    gone = info.modules[0]
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == gone else real(name, *a)
    )
    with pytest.raises(MissingExtraError) as err:
        Registry.from_entry_points().build(
            info.kind, ProviderSpec(provider=info.name), BuildContext(env=_env(info))
        )
    assert err.value.install_command in str(err.value)
    if info.extra is not None:
        assert info.extra in EXTRAS, f"no extra {info.extra!r} in pyproject.toml"
        assert err.value.install_command == f"pip install 'causerie[{info.extra}]'"
    else:  # a main dependency: reinstall its package
        assert err.value.install_command.startswith("pip install ")
        assert "causerie[" not in err.value.install_command
