"""The installed apps, read from the ``causerie.apps`` entry points, and what the platform
asks of them: tool names, tools for an agent, brain skills and client actions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import ConfigError
from .api import App, AppContext, AppOptions

if TYPE_CHECKING:
    from ..providers.local.scripted.brain import Skill

ENTRY_POINT_GROUP = "causerie.apps"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppRegistry:
    apps: tuple[App, ...]

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> AppRegistry:
        apps: list[App] = []
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            try:
                obj = ep.load()
            except Exception as e:  # a broken third-party app: name it, do not crash blind
                raise ConfigError(
                    f"app {ep.name!r} ({group}: {ep.value}) cannot be loaded: "
                    f"{type(e).__name__}: {e}"
                ) from e
            app = obj() if isinstance(obj, type) else obj
            if not isinstance(app, App):
                raise ConfigError(f"entry point {group}:{ep.name} is not a causerie.appkit.App")
            apps.append(app)
        return cls(tuple(apps))

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for app in self.apps:
            for name in (app.name, *app.groups, *app.tools):
                if seen.setdefault(name, app.name) != app.name:
                    raise ConfigError(
                        f"apps {seen[name]!r} and {app.name!r} both define {name!r} "
                        "(a tool, group or app name); uninstall or rename one"
                    )

    def get(self, name: str) -> App | None:
        return next((a for a in self.apps if a.name == name), None)

    # -- tool names ----------------------------------------------------------------------

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Each app's name (all its tools), then its groups."""
        out: dict[str, tuple[str, ...]] = {}
        for app in self.apps:
            out[app.name] = app.tools
            out.update(app.groups)
        return out

    @property
    def aliases(self) -> dict[str, str]:
        return {k: v for app in self.apps for k, v in app.aliases.items()}

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(t for app in self.apps for t in app.tools)

    def expand(self, names: Iterable[str]) -> list[str]:
        """Group and tool names -> tool names, in the canonical order, without duplicates."""
        groups, aliases, every = self.groups, self.aliases, self.tools
        wanted: set[str] = set()
        for raw in names:
            name = raw.strip().lower()
            name = aliases.get(name, name)
            if name == "all":
                wanted.update(every)
            elif name in groups:
                wanted.update(groups[name])
            elif name in every:
                wanted.add(name)
            else:
                raise ConfigError(
                    f"tools: unknown tool or group {raw!r}; groups: all, {', '.join(groups)}; "
                    f"tools: {', '.join(every)}"
                )
        return [t for t in every if t in wanted]

    # -- tools for an agent --------------------------------------------------------------

    def options_for(self, app: App, raw: Mapping[str, Any], ctx: AppContext) -> AppOptions:
        """``tool_options`` for ``app``: its own ``tool_options.<app>`` mapping, else the
        flat keys that name no other app. A bad value is a ConfigError naming the field."""
        values, where = self._values(app, raw)
        model = app.options_model()
        try:
            return model.model_validate(values, context={"base_dir": ctx.base_dir})
        except ValidationError as e:
            raise ConfigError("\n".join(m for _, m in option_errors(e, model, where))) from None

    def option_problems(
        self, names: Iterable[str], raw: Mapping[str, Any], base_dir: Path
    ) -> list[tuple[str, str]]:
        """(field, message) for each bad ``tool_options`` entry of the apps ``names`` use,
        without building anything (``config check``). Unknown names are not reported here."""
        try:
            wanted = set(self.expand(names))
        except ConfigError:
            return []
        out: list[tuple[str, str]] = []
        for app in self.apps:
            if wanted.intersection(app.tools):
                values, where = self._values(app, raw)
                model = app.options_model()
                try:
                    model.model_validate(values, context={"base_dir": base_dir})
                except ValidationError as e:
                    out += option_errors(e, model, where)
        return out

    def _values(self, app: App, raw: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        nested = raw.get(app.name)
        if isinstance(nested, Mapping):
            return dict(nested), f"tool_options.{app.name}"
        others = {a.name for a in self.apps}
        return {k: v for k, v in raw.items() if k not in others}, "tool_options"

    def build_tools(
        self,
        names: Sequence[str],
        options: Mapping[str, Any],
        base_dir: Path,
        language: str = "en",
    ) -> list[Any]:
        """The tools ``names`` (groups, aliases or tools) of every app that has one."""
        wanted = self.expand(names)
        ctx = AppContext(base_dir=base_dir, language=language)
        out: list[Any] = []
        for app in self.apps:
            mine = [t for t in app.tools if t in wanted]
            if mine:
                out += app.build_tools(self.options_for(app, options, ctx), mine, ctx)
        return out

    # -- brain skills and client actions -------------------------------------------------

    def skill(self, name: str, *, agent_name: str) -> Skill | None:
        app = next((a for a in self.apps if name in a.skills), None)
        return app.skill(name, agent_name=agent_name) if app is not None else None

    @property
    def skill_names(self) -> tuple[str, ...]:
        return tuple(s for app in self.apps for s in app.skills)

    async def client_action(self, session: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Hand a click to the first app that takes it; answer if none does. Never raises
        for a bad event."""
        for app in self.apps:
            done = await app.client_action(session, event)
            if done is not None:
                return done
        action = str(event.get("action") or event.get("name") or "")
        logger.info("client action %r: no app handles it", action)
        return {"ok": False, "action": action, "message": f"unknown action {action!r}"}


def option_errors(
    error: ValidationError, model: type[AppOptions], where: str
) -> list[tuple[str, str]]:
    """(field, message) per bad option: what is wrong, and the allowed options."""
    unknown = [str(e["loc"][0]) for e in error.errors() if e["type"] == "extra_forbidden"]
    out = []
    if unknown:
        known = ", ".join(sorted(model.model_fields))
        out.append((where, f"{where}: unknown option(s) {', '.join(unknown)}; known: {known}"))
    for e in error.errors():
        if e["type"] != "extra_forbidden":
            field = f"{where}.{'.'.join(str(p) for p in e['loc'])}"
            out.append((field, f"{field}: {e['msg']}, got {e['input']!r}"))
    return out
