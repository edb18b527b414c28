"""Checks of what would fail only when a session starts: plugin and tool names, and a language
the chosen speech-to-text cannot recognise. ``causerie config check`` runs them.

Each check takes what it checks against as an argument (the known names, the registry), so it
stays a pure function: the CLI gathers the installed plugins, built-in and declared tools.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config.loader import LoadedConfig
    from ..config.spec import AgentSpec, ProviderKind
    from ..providers.info import ProviderInfo
    from ..providers.registry import Registry


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" + (f"\n  fix: {self.fix}" if self.fix else "")


def check_plugins(names: Iterable[str], known: Collection[str]) -> list[Problem]:
    """Every enabled plugin must be installed."""
    return [
        Problem(
            f"plugins[{i}]",
            f"unknown plugin {name!r}; installed: {', '.join(sorted(known)) or '(none)'}",
            f"`causerie plugins remove {name}`, or install the package that provides it",
        )
        for i, name in enumerate(names)
        if name not in known
    ]


def check_tools(names: Iterable[str], known: Collection[str]) -> list[Problem]:
    """Every ``tools:`` entry must be a known tool, group or alias (case-insensitive)."""
    lowered = {k.lower() for k in known}
    return [
        Problem(
            f"tools[{i}]",
            f"unknown tool or group {name!r}; known: {', '.join(sorted(known))}",
            "remove it from `tools:` or declare it (see docs/TOOLS.md)",
        )
        for i, name in enumerate(names)
        if name.strip().lower() not in lowered
    ]


_VERB = {"stt": "recognise", "tts": "speak"}


def check_languages(
    spec: AgentSpec, registry: Registry, kinds: Iterable[ProviderKind] = ("stt",)
) -> list[Problem]:
    """The agent's language (or a stage's own ``language``) must be one the provider handles,
    as :attr:`ProviderInfo.languages` declares it."""
    problems = []
    for kind in kinds:
        for i, pspec in enumerate(spec.chain(kind)):
            info = registry.get(kind, pspec.provider)
            language = pspec.language or spec.language
            if info.supports_language(language, pspec):
                continue
            stage = f"{kind}[{i}]" if i else kind  # a fallback: llm[1], as the loader names it
            field = f"{stage}.language" if pspec.language else "language"
            problems.append(
                Problem(
                    field,
                    f"{stage} provider {info.name!r} cannot {_VERB.get(kind, 'handle')} "
                    f"{language!r}: its bundled "
                    f"model handles {', '.join(info.languages)} only",
                    _language_fix(kind, language, info, registry),
                )
            )
    return problems


def _language_fix(kind: str, language: str, current: ProviderInfo, registry: Registry) -> str:
    """The config lines of the installed providers that handle ``language``, offline first."""
    from ..errors import MissingExtraError

    options = []
    for info in registry.all():
        if info.kind != kind or info.name == current.name or not info.supports_language(language):
            continue
        model = info.model_hint or (info.models[0] if info.models else "")
        missing = info.missing_module()
        needs = (
            [MissingExtraError(kind, info.name, info.extra, missing, info.package).install_command]
            if missing
            else []
        )
        keys = info.key_requirement()
        needs += [keys] if keys else []
        where = "offline" if info.offline else "cloud"
        where += f", needs {' and '.join(needs)}" if needs else ""
        line = f"{kind}: {{provider: {info.name}" + (f", model: {model}}}" if model else "}")
        # Offline first, then those with a known model (built-in), then by name.
        options.append(
            ((not info.offline, not model, info.name), f"{line}   # {where}: {info.description}")
        )
    own = (
        f"\n  or keep {current.name} with your own {language} model: "
        + ", ".join(f"{kind}.options.{k}" for k in current.own_model_options)
        if current.own_model_options
        else ""
    )
    if not options:
        return f"choose another {kind} provider (`causerie providers --kind {kind}`){own}"
    lines = [line for _, line in sorted(options)]
    more = f"\n    ... `causerie providers --kind {kind}` lists all" if len(lines) > 4 else ""
    return "in agent.yaml, use one of:\n    " + "\n    ".join(lines[:4]) + more + own


def options_problems(model: Any, options: Any, where: str) -> list[Problem]:
    """``options`` against their declared model (:mod:`.options`): for tool groups and plugins
    as for providers."""
    from ..config.options import OptionsError, parse_options

    try:
        parse_options(model, options, where)
    except OptionsError as e:
        return [Problem(field, msg) for field, msg in e.problems]
    return []


def check_provider_options(spec: AgentSpec, registry: Registry) -> list[Problem]:
    """Every provider's ``options`` against its model, fallbacks included (``llm[1].options``)."""
    problems = []
    for kind in ("stt", "llm", "tts", "vad"):
        for i, pspec in enumerate(spec.chain(kind)):
            try:
                info = registry.get(kind, pspec.provider)
            except Exception:  # an unknown provider is reported by the loader
                continue
            stage = f"{kind}[{i}]" if i else kind
            problems += [Problem(f, m) for f, m in info.option_problems(pspec, stage)]
    return problems


def check_plugin_options(options: Mapping[str, Any], known: Mapping[str, Any]) -> list[Problem]:
    """``plugin_options.<name>`` against the options model the plugin declares."""
    from ..plugins.manager import options_model

    problems = []
    for name, opts in options.items():
        info = known.get(name)
        try:
            model = options_model(info.load()) if info is not None else None
        except Exception:  # a broken plugin: check_plugins names it
            continue
        if model is not None:
            problems += options_problems(model, opts, f"plugin_options.{name}")
    return problems


def known_tool_names(loaded: LoadedConfig) -> set[str]:
    """Built-in tools, their groups and aliases, and the tools the agent declares."""
    from ..tools import registry as tools

    return {
        "all",
        *tools.TOOL_GROUPS,
        *tools.ALIASES,
        *tools.ALL_TOOLS,
        *tools.declared_tool_names(loaded),
    }


def check_tool_options(loaded: LoadedConfig) -> list[Problem]:
    """``tool_options`` against the typed options of the apps ``tools:`` uses."""
    from ..appkit.registry import AppRegistry

    spec = loaded.spec
    return [
        Problem(field, message.removeprefix(f"{field}: "), "see the app's options in docs/APPS.md")
        for field, message in AppRegistry.from_entry_points().option_problems(
            spec.tools, spec.tool_options, loaded.base_dir
        )
    ]


def start_problems(loaded: LoadedConfig, registry: Registry) -> list[Problem]:
    """Everything above, against what is installed now."""
    from ..plugins import available_plugins

    spec = loaded.spec
    return [
        *check_provider_options(spec, registry),
        *check_plugins(spec.plugins, available_plugins()),
        *check_plugin_options(spec.plugin_options, available_plugins()),
        *check_tools(spec.tools, known_tool_names(loaded)),
        *check_tool_options(loaded),
        *check_languages(spec, registry, ("stt", "tts")),
        *check_api_tools(loaded),
        *check_api_tool_names(loaded),
        *check_theme(loaded),
    ]


def check_theme(loaded: LoadedConfig) -> list[Problem]:
    """``ui.theme`` names a theme folder next to agent.yaml or a built-in one (docs/THEMES.md)."""
    from ..config.themes import Themes

    themes = Themes(loaded.base_dir / "themes")
    name = loaded.spec.ui.theme
    if themes.find(name) is not None:
        return []
    return [
        Problem(
            "ui.theme",
            f"no theme {name!r}: no {loaded.base_dir / 'themes' / name}/theme.css and no "
            f"built-in one; available: {', '.join(themes.names())}",
            "`causerie config set ui.theme default`, or create that folder (docs/THEMES.md)",
        )
    ]


def check_api_tools(loaded: LoadedConfig) -> list[Problem]:
    """Declared tools: every ``${VAR}`` they use is set (their schema and templates were
    checked when the file loaded)."""
    from ..tools.declared.build import missing_vars

    return [
        Problem(
            f"api_tools[{tool}].request",
            f"environment variable {var} is not set (the tool uses ${{{var}}})",
            f"add {var}=... to .env or the environment (not to agent.yaml: keep secrets out)",
        )
        for tool, var in missing_vars(loaded)
    ]


def check_api_tool_names(loaded: LoadedConfig) -> list[Problem]:
    """No declared tool is named like an installed app's tool."""
    from ..tools.registry import shadowed_tools

    return [
        Problem("api_tools", message.removeprefix("api_tools: "), "rename the declared tool")
        for message in shadowed_tools(loaded)
    ]
