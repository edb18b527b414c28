"""Finding, loading and calling plugins.

Plugins, built-in or third-party, are published under the ``causerie.plugins`` entry-point
group (``name = "module"`` or ``"module:object"``); the value is a pluggy plugin: a module
or an object with ``@hookimpl`` functions. The built-ins are listed there too, and in
:data:`BUILTIN` so that a source checkout without installed metadata still finds them.

:class:`PluginHost` calls the hooks itself rather than through ``pm.hook.X()``, so that the
order is the one in agent.yaml, each plugin gets its own options, and one failing plugin is
skipped instead of aborting the others.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel

from ..config.options import OptionsError, given, parse_options
from ..errors import ConfigError
from . import hookspecs
from .context import PluginSession, UserMessage
from .stores import PluginStores

if TYPE_CHECKING:
    from ..config.loader import LoadedConfig

logger = logging.getLogger("causerie.plugins")

ENTRY_POINT_GROUP = "causerie.plugins"
BUILTIN: dict[str, str] = {
    "sentiment_analysis": "causerie.plugins.builtin.sentiment",
    "profanity_filter": "causerie.plugins.builtin.profanity",
    "conversation_memory": "causerie.plugins.builtin.memory",
    "example": "causerie.plugins.builtin.example",
}
HOOKS = (
    "causerie_session_start",
    "causerie_user_message",
    "causerie_agent_text",
    "causerie_session_end",
)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    target: str
    """'module' or 'module:object'."""
    builtin: bool

    def load(self) -> Any:
        mod_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(mod_name)
            for part in filter(None, attr.split(".")):
                obj = getattr(obj, part)
        except Exception as e:
            raise ConfigError(
                f"plugin {self.name!r} ({self.target}) cannot be loaded: {type(e).__name__}: {e}"
            ) from None
        return obj

    def description(self) -> str:
        try:
            doc = getattr(self.load(), "__doc__", None) or ""
        except ConfigError as e:
            return f"(broken: {e})"
        return doc.strip().splitlines()[0] if doc.strip() else ""


def available_plugins() -> dict[str, PluginInfo]:
    """Every installed plugin by name, built-ins first."""
    out = {name: PluginInfo(name, target, True) for name, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out[ep.name] = PluginInfo(ep.name, ep.value, ep.value == BUILTIN.get(ep.name))
    return out


def options_model(plugin: Any) -> type[BaseModel] | None:
    """The options model a plugin declares as ``Options`` (a pydantic model, see
    :class:`causerie.config.options.Options`); None: its options stay a plain dict."""
    model = getattr(plugin, "Options", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def checked_options(name: str, plugin: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """``plugin_options.<name>`` validated by the plugin's model: the options as written, or a
    :class:`ConfigError` naming each bad field and the allowed ones."""
    model = options_model(plugin)
    if model is None:
        return dict(options)
    try:
        return given(parse_options(model, options, f"plugin_options.{name}"))
    except OptionsError as e:
        raise ConfigError(str(e)) from None


def check_names(names: Sequence[str], known: Mapping[str, PluginInfo] | None = None) -> None:
    known = available_plugins() if known is None else known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"unknown plugin(s) {', '.join(map(repr, unknown))}; "
            f"available: {', '.join(sorted(known))}"
        )


OnError = Callable[[str, str, BaseException], None]


@dataclass
class PluginHost:
    """The enabled plugins of one agent, and the hook calls (see :mod:`.hookspecs`)."""

    names: list[str]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_dir: Path = Path("var")
    base_dir: Path = Path(".")
    errors: Counter[str] = field(default_factory=Counter)
    """Failures per plugin name."""
    on_error: OnError | None = None
    stores: PluginStores = field(default_factory=PluginStores)
    """Where plugins keep data across sessions (``session.stores``)."""
    own_stores: bool = True
    """Whether :meth:`aclose` closes ``stores`` (False: a worker shares them between hosts
    and closes them itself)."""
    async_timeout: float = 5.0
    """Seconds an ``async`` session start or end implementation may take; past them it is
    cancelled and counted as a failure, so a slow plugin cannot hold up the greeting."""
    pm: pluggy.PluginManager = field(init=False)

    def __post_init__(self) -> None:
        self.options = dict(self.options)  # validated below: the caller's mapping stays as is
        self.pm = pluggy.PluginManager("causerie")
        self.pm.add_hookspecs(hookspecs)
        known = available_plugins()
        check_names(self.names, known)
        for name in self.names:
            self.register(name, known[name].load())

    def register(self, name: str, plugin: Any) -> None:
        """Register a plugin object under ``name`` (tests and embedders may call this); its
        options are checked here, once, against its ``Options`` model."""
        if name in self.options:
            self.options[name] = checked_options(name, plugin, self.options[name])
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as e:
            raise ConfigError(f"plugin {name!r} is invalid: {e}") from None
        if name not in self.names:
            self.names.append(name)

    def new_session(self, data: Any, history: Callable[[], list[tuple[str, str]]]) -> PluginSession:
        return PluginSession(
            data=data,
            data_dir=self.data_dir,
            base_dir=self.base_dir,
            history_source=history,
            stores=self.stores,
        )

    def implements(self, hook: str) -> bool:
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def _impls(self, hook: str) -> list[Any]:
        order = {n: i for i, n in enumerate(self.names)}
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        return sorted(impls, key=lambda i: order.get(i.plugin_name, len(order)))

    def _args(self, impl: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        args = {k: v for k, v in kwargs.items() if k in impl.argnames}
        if "options" in impl.argnames:
            args["options"] = dict(self.options.get(impl.plugin_name, {}))
        return args

    def _failed(self, impl: Any, hook: str, e: BaseException) -> None:
        self.errors[impl.plugin_name] += 1
        if self.on_error is not None:
            self.on_error(impl.plugin_name, hook, e)
        else:
            logger.error("plugin %s failed in %s; skipped", impl.plugin_name, hook, exc_info=e)

    def _call(self, impl: Any, hook: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        try:
            out = impl.function(**self._args(impl, kwargs))
            if inspect.isawaitable(out):  # on the voice path nothing may be awaited
                if inspect.iscoroutine(out):
                    out.close()
                raise TypeError(f"{hook} must not be async (only session start and end may)")
            return True, out
        except Exception as e:
            self._failed(impl, hook, e)
            return False, None

    async def _acall(self, impl: Any, hook: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """:meth:`_call` for the hooks whose implementations may be ``async def``."""
        try:
            out = impl.function(**self._args(impl, kwargs))
            if inspect.isawaitable(out):
                out = await asyncio.wait_for(out, self.async_timeout)
            return True, out
        except Exception as e:  # TimeoutError included
            self._failed(impl, hook, e)
            return False, None

    # -- the hooks ---------------------------------------------------------------------------

    async def session_start(self, session: PluginSession) -> list[str]:
        notes = []
        for impl in self._impls("causerie_session_start"):
            ok, note = await self._acall(impl, "causerie_session_start", {"session": session})
            if ok and isinstance(note, str) and note.strip():
                notes.append(note.strip())
        return notes

    def user_message(self, session: PluginSession, text: str) -> UserMessage:
        msg = UserMessage(text=text, original=text, language=session.language)
        for impl in self._impls("causerie_user_message"):
            before = (msg.text, list(msg.context), msg.reply)
            msg._plugin = impl.plugin_name
            ok, _ = self._call(impl, "causerie_user_message", {"message": msg, "session": session})
            if not ok:  # a failing plugin's half-done changes are undone
                msg.text, msg.context, msg.reply = before[0], before[1], before[2]
                msg.blocked_by = None if msg.reply is None else msg.blocked_by
            if msg.blocked:
                break
        msg._plugin = ""
        return msg

    def agent_text(self, session: PluginSession, text: str, index: int) -> str:
        for impl in self._impls("causerie_agent_text"):
            ok, out = self._call(
                impl, "causerie_agent_text", {"text": text, "index": index, "session": session}
            )
            if ok and isinstance(out, str):
                text = out
        return text

    async def session_end(self, session: PluginSession) -> None:
        for impl in self._impls("causerie_session_end"):
            await self._acall(impl, "causerie_session_end", {"session": session})

    # A bounded wait is the point (it runs while the session closes).
    async def aclose(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """As the session closes: wait up to ``timeout`` seconds for what plugins buffered to
        reach the stores (so the next session, on any worker, reads it), and close the stores
        if this host owns them. Writes still pending in a shared store stay buffered there."""
        if self.own_stores:
            await self.stores.aclose(timeout)
        elif not await self.stores.flush(timeout):
            logger.warning("plugin store writes still pending after %.1f s", timeout)


def load_plugins(loaded: LoadedConfig, *, stores: PluginStores | None = None) -> PluginHost | None:
    """The plugins ``loaded.spec.plugins`` enables, or ``None`` when there are none.

    ``stores``: the worker's, shared by its sessions and closed by the worker; by default the
    host gets its own on ``metrics.store_url``, closed by :meth:`PluginHost.aclose`."""
    spec = loaded.spec
    if not spec.plugins:
        return None
    unknown_opts = sorted(set(spec.plugin_options) - set(spec.plugins))
    if unknown_opts:
        logger.warning(
            "plugin_options for plugins that are not enabled: %s", ", ".join(unknown_opts)
        )
    raw = spec.tool_options.get("data_dir", "var")
    data_dir = Path(str(raw)).expanduser()
    if not data_dir.is_absolute():
        data_dir = loaded.base_dir / data_dir
    return PluginHost(
        names=list(spec.plugins),
        options=dict(spec.plugin_options),
        data_dir=data_dir,
        base_dir=loaded.base_dir,
        stores=stores or plugin_stores(loaded),
        own_stores=stores is None,
    )


def plugin_stores(loaded: LoadedConfig) -> PluginStores:
    """The stores for the plugins of ``loaded``: on its ``metrics.store_url``, with its
    ``metrics.transcripts`` privacy switch."""
    m = loaded.spec.metrics
    return PluginStores(m.store_url, transcripts=m.transcripts)
