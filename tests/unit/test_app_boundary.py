"""The platform never imports an app: apps plug in through the ``causerie.apps`` entry points.

Every module outside ``causerie/apps/<app>/`` is parsed; an import of an app package (as an
absolute or a relative import, at the top or inside a function) fails the test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "causerie"
APPS = sorted(p.name for p in (ROOT / "apps").iterdir() if (p / "__init__.py").exists())


def is_app(name: str) -> bool:
    """``causerie.apps...``: an app; ``causerie.appkit...``: the platform's side of the contract."""
    return name == "causerie.apps" or name.startswith("causerie.apps.")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from .apps import shop`
    return out


def platform_modules() -> list[Path]:
    return [
        p
        for p in sorted(ROOT.rglob("*.py"))
        if not any(p.is_relative_to(ROOT / "apps" / app) for app in APPS)
    ]


def test_there_are_apps_and_platform_modules() -> None:
    assert {"shop", "appointments"} <= set(APPS)
    assert len(platform_modules()) > 100


@pytest.mark.parametrize("area", ["agent", "transports", "providers", "runtime", "tools"])
def test_the_pipeline_does_not_import_an_app(area: str) -> None:
    bad = {
        f"{module_name(p)} imports {name}"
        for p in platform_modules()
        if p.is_relative_to(ROOT / area)
        for name in imported(p)
        if is_app(name)
    }
    assert not bad, sorted(bad)


def test_no_platform_module_imports_an_app() -> None:
    bad = {
        f"{module_name(p)} imports {name}"
        for p in platform_modules()
        for name in imported(p)
        if is_app(name)
    }
    assert not bad, sorted(bad)


def test_the_check_sees_relative_and_nested_imports() -> None:
    """The parser itself: relative imports, also inside a function, are resolved."""
    names = imported(ROOT / "providers" / "local" / "scripted" / "llm.py")
    assert "causerie.appkit.registry.AppRegistry" in names  # `from ....appkit.registry import ...`
    assert "causerie.appkit.tool" in names
    shop = imported(ROOT / "apps" / "shop" / "__init__.py")
    assert "causerie.apps.shop.skill.skill.ShopSkill" in shop  # in a method: `from .skill...`
    assert is_app("causerie.apps.shop.skill.skill") and not is_app("causerie.appkit.registry")
