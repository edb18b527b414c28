"""docs/PERFORMANCE.md is shared by every benchmark: each rewrites only its own section.
Also the percentile the benchmarks report."""

from __future__ import annotations

from pathlib import Path

INTRO = (
    "# Performance\n\nMeasured on the project's 2-core machine. Rerun the commands to refresh.\n"
)


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace (or append) the '## ' section titled ``heading``, keeping the others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else INTRO
    if heading + "\n" in old:
        start = old.index(heading + "\n")
        nxt = old.find("\n## ", start + len(heading))
        old = old[:start] + text.rstrip() + "\n" + (old[nxt:] if nxt != -1 else "")
    else:
        old = old.rstrip() + "\n\n" + text
    path.write_text(old.rstrip() + "\n")


def pct(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 to 1) of ``values``: a sample that was measured."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]
