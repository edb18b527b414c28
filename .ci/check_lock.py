"""`make setup`: every requirement of pyproject.toml (main and dev) is installed, in range.

`pip check` covers the installed packages' own requirements, but not an extra such as `dev`
that the lock forgot; this does. On a miss: `make lock`, then commit requirements.lock.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement


def main() -> int:
    project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"].get("dev", [])]
    problems = []
    for line in wanted:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name}: not installed (pyproject.toml asks for {line!r})")
            continue
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: {version} installed, pyproject.toml asks for {line!r}")
    for p in problems:
        print(f"requirements.lock is out of date: {p}", file=sys.stderr)
    if problems:
        print("run `make lock`, then commit requirements.lock", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
