"""Every hook has a test and documentation (datasette's rule): adding a hook to
``causerie/plugins/hookspecs.py`` without both fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from causerie.plugins import HOOKS, hookspecs

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(
    name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, "causerie_spec")
)


def test_hook_list_is_complete() -> None:
    assert SPECS and sorted(HOOKS) == SPECS


@pytest.mark.parametrize("hook", SPECS)
def test_hook_has_a_test(hook: str) -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    assert re.search(rf"def test_hook_{hook}\b", tests), f"write a test named test_hook_{hook}"


@pytest.mark.parametrize("hook", SPECS)
def test_hook_is_documented(hook: str) -> None:
    docs = (ROOT / "docs" / "PLUGINS.md").read_text(encoding="utf-8")
    assert re.search(rf"^#+ `?{hook}\b", docs, re.M), (
        f"document {hook} under its own heading in docs/PLUGINS.md"
    )
