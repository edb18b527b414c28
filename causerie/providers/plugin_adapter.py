"""Any installed ``livekit-plugins-<vendor>`` as a provider, with no Causerie module for it.

The registry asks :class:`PluginAdapter` for names it has no curated module for. The adapter
builds the plugin's public ``STT``/``TTS``/``LLM`` class from the spec: ``model``, ``voice``,
``language``, ``base_url`` and ``api_key`` go to the constructor's matching argument, and
every ``options`` key must be one of its arguments, of the annotated type (the options model
is derived from the constructor, :func:`causerie.config.options.signature_options`). Keys come from
Causerie's merged environment (``.env`` included), per :mod:`.catalogue`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import typing
from collections.abc import Mapping
from functools import cache, partial
from typing import Any

from pydantic import BaseModel

from ..config.options import OptionsError, given, parse_options, signature_options, type_name
from ..config.spec import ProviderKind, ProviderSpec
from ..errors import ProviderError
from .catalogue import VENDORS, Vendor, find_vendor
from .info import BuildContext, ProviderInfo

CLASSES: Mapping[str, str] = {"stt": "STT", "tts": "TTS", "llm": "LLM"}
_ARGS: Mapping[str, tuple[str, ...]] = {
    "model": ("model", "model_name"),
    "voice": ("voice", "voice_id", "voice_name", "speaker"),
    "language": ("language", "language_code", "languages", "lang"),
    "base_url": ("base_url",),
    "api_key": ("api_key", "speech_key"),
}
_MODULE = re.compile(r"^[a-z][a-z0-9_]*$")


def plugin_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(f"livekit.plugins.{module}") is not None
    except (ImportError, ValueError):
        return False


class PluginAdapter:
    """The registry's resolver for names without a curated module."""

    def names(self, kind: str) -> list[str]:
        return [v.name for v in VENDORS if kind in v.kinds]

    def infos(self) -> list[ProviderInfo]:
        """The catalogue's providers, installed or not (for listings)."""
        return [_info(v, v.module, kind) for v in VENDORS for kind in v.kinds]

    def resolve(self, kind: str, name: str) -> ProviderInfo | None:
        if kind not in CLASSES:
            return None
        vendor = find_vendor(name)
        if vendor is not None:
            return _info(vendor, vendor.module, kind) if kind in vendor.kinds else None
        # Not in the catalogue: any installed plugin, if it has the class (checked on build).
        module = name.lower().replace("-", "_")
        if not _MODULE.match(module) or not plugin_installed(module):
            return None
        return _info(None, module, kind, name=name.lower())


def _info(vendor: Vendor | None, module: str, kind: str, name: str | None = None) -> ProviderInfo:
    k: ProviderKind = kind  # type: ignore[assignment]
    groups = vendor.key_groups(kind) if vendor else ()
    pname = vendor.name if vendor else (name or module)
    return ProviderInfo(
        kind=k,
        name=pname,
        build=partial(build, vendor, module, k),
        description=vendor.about[k] if vendor else f"livekit-plugins-{module} (discovered)",
        modules=(f"livekit.plugins.{module}",),
        extra=vendor.name if vendor else None,
        key_env=tuple(dict.fromkeys(v for g in groups for v in g)),
        key_groups=groups,
        key_options=vendor.key_options if vendor else (),
        package=f"livekit-plugins-{module}",
        options=partial(options_model, module, k),
    )


def options_model(module: str, kind: ProviderKind) -> type[BaseModel]:
    """The plugin class's constructor arguments as an options model (the class must exist:
    :func:`build` says which classes the plugin offers)."""
    mod = importlib.import_module(f"livekit.plugins.{module}")
    cls = getattr(mod, CLASSES[kind], None)
    if not isinstance(cls, type):
        return signature_options(lambda: None, "no options")
    return _derived(cls)


@cache
def _derived(cls: type) -> type[BaseModel]:
    return signature_options(cls, f"{cls.__module__}.{cls.__name__}")


def build(
    vendor: Vendor | None, module: str, kind: ProviderKind, spec: ProviderSpec, ctx: BuildContext
) -> Any:
    mod = importlib.import_module(f"livekit.plugins.{module}")
    cls = getattr(mod, CLASSES[kind], None)
    label = f"livekit.plugins.{module}.{CLASSES[kind]}"
    if not isinstance(cls, type):
        offers = [k for k, c in CLASSES.items() if isinstance(getattr(mod, c, None), type)]
        raise ProviderError(
            f"{kind}.provider: livekit-plugins-{module} has no {CLASSES[kind]} class; "
            f"it offers: {', '.join(offers) or 'none of STT, TTS, LLM'}"
        )
    params = _params(cls)
    try:
        kwargs = given(parse_options(_derived(cls), spec.options, f"{kind}.options"))
    except OptionsError as e:
        raise ProviderError(str(e)) from None
    fixed: dict[str, Any] = {
        "model": spec.model,
        "voice": spec.voice,
        "language": _language(spec, ctx),
        "base_url": spec.base_url,
        "api_key": spec.api_key.get_secret_value() if spec.api_key else None,
    }
    for field, value in fixed.items():
        if value is None:
            continue
        arg = next((a for a in _ARGS[field] if a in params), None)
        if arg is None:
            if field == "language":
                continue  # the stage is monolingual or takes it in options
            raise ProviderError(
                f"{kind}.{field}: {label} takes no {field}; its arguments: {', '.join(params)}"
            )
        if arg not in kwargs:
            kwargs[arg] = _fit(value, _hints(cls).get(arg))
    if kind == "stt" and "vad" in params and "vad" not in kwargs and ctx.vad is not None:
        # Realtime STTs (Speechmatics, Mistral) end utterances on a VAD: the pipeline's,
        # not a default one they would load themselves.
        kwargs["vad"] = ctx.vad
    env_params = vendor.env_params if vendor else {"api_key": f"{module.upper()}_API_KEY"}
    for arg, var in env_params.items():
        if arg in params and arg not in kwargs and ctx.env.get(var):
            kwargs[arg] = ctx.env[var]
    return cls(**kwargs)


def _language(spec: ProviderSpec, ctx: BuildContext) -> str | None:
    """The stage's own language, else the agent's unless it is English: vendors default to
    English and spell other locales their own way ('fr', 'fr-FR', 'fr_FR')."""
    if spec.language:
        return spec.language
    return None if ctx.language.split("-")[0] == "en" else ctx.language


def _params(cls: type) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(cls)
    return {
        n: p
        for n, p in sig.parameters.items()
        if not n.startswith("_") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # unresolvable forward references: the types go unchecked
        return {}


def _fit(value: str, hint: Any) -> Any:
    """``value``, or ``[value]`` where the argument wants a list (Gladia's ``languages``)."""
    try:
        _typed("", "", value, hint)
    except ProviderError:
        return [value]
    return value


def _typed(kind: str, key: str, value: Any, hint: Any) -> Any:
    if hint is None:
        return value
    from pydantic import ConfigDict, TypeAdapter, ValidationError

    try:
        adapter: TypeAdapter[Any] = TypeAdapter(
            hint, config=ConfigDict(arbitrary_types_allowed=True)
        )
    except Exception:  # a type pydantic cannot describe: the constructor will judge it
        return value
    try:
        return adapter.validate_python(value)
    except ValidationError as e:
        raise ProviderError(
            f"{kind}.options.{key}: {value!r} is not a valid {type_name(hint)} "
            f"({e.errors()[0]['msg']})"
        ) from None


def installed_plugins() -> list[str]:
    """Module names of every installed ``livekit.plugins.*`` (found, not imported)."""
    import pkgutil

    try:
        import livekit.plugins as ns
    except ImportError:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(ns.__path__) if _MODULE.match(m.name))
