"""Load an agent definition with the documented precedence (:mod:`.sources`, docs/CONFIG.md):

    command-line options  >  process environment  >  .env  >  agent.yaml  >  defaults

Every error names the field (and the environment variable when the value came from one) and
the allowed values, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..errors import ConfigError
from .api_tools import ApiToolSpec
from .sources import ENV_OVERRIDES, Layers, agent_settings
from .spec import PROVIDER_KINDS, AgentSpec

DEFAULT_CONFIG = "agent.yaml"
CONFIG_ENV = "CAUSERIE_CONFIG"

__all__ = ["ENV_OVERRIDES", "LoadedConfig", "load_config"]


@dataclass
class LoadedConfig:
    spec: AgentSpec
    path: Path | None
    """The agent.yaml used, if any."""
    sources: dict[str, str] = field(default_factory=dict)
    """Dotted field -> where its value came from, for fields not from agent.yaml."""
    env: dict[str, str] = field(default_factory=dict)
    """The merged environment (.env under the process environment), for provider keys."""
    layers: Layers = field(default_factory=Layers)
    """The environment and .env apart, for the other settings (server, LiveKit, worker)."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def instructions(self) -> str:
        return self.spec.resolved_instructions(self.base_dir)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from e
    try:
        data = _yaml().load(text)
    except YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of fields, got {type(data).__name__}"
        )
    return data


def find_config(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        p = Path(explicit)
        if not p.exists():
            raise ConfigError(f"{p}: no such agent file (use `causerie init` to create one)")
        return p
    if env.get(CONFIG_ENV):
        p = Path(env[CONFIG_ENV])
        if not p.exists():
            raise ConfigError(f"{CONFIG_ENV}={p}: no such agent file")
        return p
    p = Path(DEFAULT_CONFIG)
    return p if p.exists() else None


def field_messages(err: ValidationError, data: Any = None) -> list[tuple[str, str]]:
    """``(dotted field, message)`` for each error, named as the user wrote them ("" for the
    top level), with the allowed fields for an unknown one."""
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in _named(e["loc"], data))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = _model_at(e["loc"][:-1])
            allowed = ", ".join(parent.model_fields) if parent else ""
            msg = f"unknown field; allowed fields here: {allowed}"
        elif e["type"] == "missing":
            msg = "required field is missing"
        out.append((loc, msg))
    return out


def format_validation_error(
    err: ValidationError, sources: Mapping[str, str], where: str, data: Any = None
) -> str:
    lines = []
    for loc, msg in field_messages(err, data):
        src = sources.get(loc)
        origin = f" [from {src}]" if src else ""
        lines.append(f"{where}: {loc or '(top level)'}: {msg}{origin}")
    return "\n".join(lines)


def _named(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """``api_tools.0.request`` -> ``api_tools[order_status].request``: errors name the tool;
    ``llm.fallbacks.0.model`` -> ``llm[1].model``: where it is in a chain's list form."""
    if len(loc) > 2 and loc[0] in PROVIDER_KINDS and loc[1] == "fallbacks":
        if isinstance(loc[2], int):
            return (f"{loc[0]}[{loc[2] + 1}]", *loc[3:])
    if len(loc) > 1 and loc[0] == "api_tools" and isinstance(loc[1], int) and data:
        tools = data.get("api_tools") if isinstance(data, dict) else None
        if isinstance(tools, list) and loc[1] < len(tools) and isinstance(tools[loc[1]], dict):
            name = tools[loc[1]].get("name", loc[1])
            return (f"api_tools[{name}]", *loc[2:])
    return loc


def _model_at(loc: tuple[Any, ...]) -> Any:
    model: Any = AgentSpec
    for part in loc:
        if isinstance(part, int):  # a list item: same model
            continue
        f = getattr(model, "model_fields", {}).get(part)
        if f is None:
            return None
        model = f.annotation
        # list[Model] / Model | None -> Model
        model = next((a for a in get_args(model) if hasattr(a, "model_fields")), model)
    return model if hasattr(model, "model_fields") else None


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv: str | Path | None = ".env",
    overrides: Mapping[str, Any] | None = None,
    registry: Any = None,
) -> LoadedConfig:
    """Load and validate the agent definition.

    ``overrides`` are dotted fields from the command line. ``registry`` (a
    :class:`causerie.providers.registry.Registry`) checks provider names when given.
    """
    layers = Layers.read(environ, dotenv)
    env = layers.env
    cfg_path = find_config(path, env)
    data: dict[str, Any] = read_yaml(cfg_path) if cfg_path else {}
    data = _plain(data)
    where = str(cfg_path) if cfg_path else "agent definition"
    if cfg_path is not None:
        declared = read_tool_files(cfg_path.parent)
        if declared:
            inline = data.get("api_tools")
            data["api_tools"] = [*(inline if isinstance(inline, list) else []), *declared]
    sources: dict[str, str] = {}
    try:
        settings = agent_settings(layers, data, overrides or {}, sources)
        # A plain AgentSpec for the rest of the program (the studio compares and copies it).
        spec = AgentSpec.model_validate(settings.model_dump(exclude_unset=True))
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, sources, where, data)) from None

    loaded = LoadedConfig(spec=spec, path=cfg_path, sources=sources, env=env, layers=layers)
    if spec.instructions_file is not None:
        p = (
            spec.instructions_file
            if spec.instructions_file.is_absolute()
            else loaded.base_dir / spec.instructions_file
        )
        if not p.is_file():
            raise ConfigError(f"{where}: instructions_file: {p} does not exist")
    if registry is not None:
        check_providers(loaded, registry)
    return loaded


def check_providers(loaded: LoadedConfig, registry: Any) -> None:
    """Provider names must be registered; reported like any other field error."""
    where = str(loaded.path) if loaded.path else "agent definition"
    errors = []
    for kind in PROVIDER_KINDS:
        chain = loaded.spec.chain(kind)
        for i, pspec in enumerate(chain):
            name = pspec.provider
            known = registry.names(kind)
            if name in known or _resolvable(registry, kind, name):
                continue
            src = loaded.sources.get(f"{kind}.provider") if i == 0 else None
            origin = f" [from {src}]" if src else ""
            field = f"{kind}[{i}].provider" if len(chain) > 1 else f"{kind}.provider"
            errors.append(
                f"{where}: {field}: unknown provider {name!r}; allowed: {', '.join(known)}{origin}"
            )
    if errors:
        raise ConfigError("\n".join(errors))


def _resolvable(registry: Any, kind: str, name: str) -> bool:
    """An installed livekit plugin the generic adapter can build, though not listed."""
    from ..errors import UnknownProviderError

    try:
        registry.get(kind, name)
    except UnknownProviderError:
        return False
    return True


def _plain(obj: Any) -> Any:
    """ruamel's commented containers -> plain dicts/lists (pydantic wants plain types)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


# ``tools/*.yaml`` next to agent.yaml: one declared tool per file (or a list under
# ``api_tools:``), merged into the agent's ``api_tools``. Errors name the file and the tool.
TOOLS_DIR = "tools"


def tool_files(base_dir: Path) -> list[Path]:
    folder = base_dir / TOOLS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def read_tool_files(base_dir: Path) -> list[dict[str, Any]]:
    """The raw declarations of every file, each validated on its own first so that an
    error says which file and which tool."""
    out: list[dict[str, Any]] = []
    for path in tool_files(base_dir):
        data = _plain(read_yaml(path))
        items = data.get("api_tools") if set(data) == {"api_tools"} else [data]
        if not isinstance(items, list):
            raise ConfigError(f"{path}: api_tools must be a list of tools")
        for i, raw in enumerate(items):
            where = f"{path}: tool {raw.get('name', i)!r}" if isinstance(raw, dict) else str(path)
            try:
                ApiToolSpec.model_validate(raw)
            except ValidationError as e:
                raise ConfigError(format_tool_errors(e, where)) from None
            out.append(raw)
    return out


def format_tool_errors(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{where}: {loc + ': ' if loc else ''}{msg}")
    return "\n".join(lines)
