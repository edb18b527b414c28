"""Import cycles in ``causerie/``: between its subpackages, and between modules.

Every ``import`` counts, at module level or inside a function (a lazy import still ties the
two together), except those under ``if TYPE_CHECKING:``. Cycles are reported as strongly
connected components of the import graph.

    python bench/import_cycles.py [--root causerie]   # exit 1 if there is any cycle
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, name: str, is_pkg: bool, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - node.level + 1]
                base = ".".join([*up, base]) if base else ".".join(up)
            # "from pkg import mod" imports the module pkg.mod when there is one.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative enough)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def package_of(name: str) -> str:
    """``causerie.agent.session`` -> ``causerie.agent``."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


def import_graphs(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> modules it imports, subpackage -> subpackages it imports) under ``root``."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    mods = {n: imports_of(p, n, p.name == "__init__.py", known) for n, p in files.items()}
    top = root.name
    pkgs: dict[str, set[str]] = defaultdict(set)
    for n, deps in mods.items():
        for d in deps:
            pn, pd = package_of(n), package_of(d)
            if pn != pd and pn != top and pd != top:
                pkgs[pn].add(pd)
    return mods, pkgs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="causerie", type=Path)
    root = ap.parse_args().root.resolve()
    top = root.name
    mods, pkgs = import_graphs(root)
    pkg_cycles = cycles(pkgs)
    mod_cycles = cycles(mods)
    print(f"subpackage cycles: {len(pkg_cycles)}")
    for c in pkg_cycles:
        print("  " + " <-> ".join(x.removeprefix(top + ".") for x in c))
    mutual = sorted({tuple(sorted((a, b))) for a in pkgs for b in pkgs[a] if a in pkgs.get(b, ())})
    print(f"subpackage pairs importing each other: {len(mutual)}")
    for a, b in mutual:
        print(f"  {a.removeprefix(top + '.')} <-> {b.removeprefix(top + '.')}")
    print(f"module cycles: {len(mod_cycles)}")
    for c in mod_cycles:
        print(f"  ({len(c)}) " + ", ".join(x.removeprefix(top + ".") for x in c))
    return 1 if pkg_cycles or mod_cycles else 0


if __name__ == "__main__":
    raise SystemExit(main())
