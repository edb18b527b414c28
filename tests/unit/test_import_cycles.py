"""No import cycle in ``causerie/``, between subpackages or modules (issue 9's layering:
errors/events/audio -> config -> providers/plugins/tools/apps/store -> metrics -> agent ->
runtime -> transports -> server/gateway -> cli). The check is bench/import_cycles.py's:
every import counts, lazy ones too, except under ``if TYPE_CHECKING:``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import causerie

BENCH = Path(__file__).resolve().parents[2] / "bench" / "import_cycles.py"


def _checker() -> ModuleType:
    # bench/ is scripts, not a package: load the one file the measure and this test share.
    spec = importlib.util.spec_from_file_location("import_cycles", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_causerie_has_no_import_cycle() -> None:
    check = _checker()
    mods, pkgs = check.import_graphs(Path(causerie.__file__).resolve().parent)
    assert len(mods) > 100  # the whole tree was read
    assert check.cycles(pkgs) == [], "subpackages importing each other (bench/import_cycles.py)"
    assert check.cycles(mods) == [], "modules importing each other (bench/import_cycles.py)"


def test_a_lazy_import_is_a_cycle_and_type_checking_is_not(tmp_path: Path) -> None:
    check = _checker()
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "def f():\n    from ..high import b\n    return b\n",
            "pkg/high/__init__.py": "",
            "pkg/high/b.py": "from ..low import a\n",
            "pkg/typed/__init__.py": "",
            "pkg/typed/c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high import b\n"
            ),
            "pkg/high/d.py": "from ..typed import c\n",
        },
    )
    mods, pkgs = check.import_graphs(root)
    assert check.cycles(pkgs) == [["pkg.high", "pkg.low"]]
    assert check.cycles(mods) == [["pkg.high.b", "pkg.low.a"]]
