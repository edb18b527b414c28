"""Where the agent definitions are: ``agents/*.yaml`` (one agent per file, its key the file
name without ``.yaml``) and/or the single ``agent.yaml`` of today.

The file stays the source of truth: the studio and ``causerie agents`` edit the files."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

AGENTS_DIR = "agents"
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ConfigError(
            f"agent name {key!r}: use 1-64 lowercase letters, digits, '-' or '_' "
            "(it becomes agents/NAME.yaml)"
        )
    return key


def version_of(text: str | bytes) -> str:
    """The version an edit starts from: a digest of the file's bytes, so a hand edit of the
    file makes a studio edit begun before it stale too."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True)
class AgentFolder:
    """The definitions of one server. ``main`` is the single agent file (``--config`` or
    ``./agent.yaml``) when there is one; ``folder`` the ``agents/`` folder."""

    folder: Path | None
    """None: the main file alone."""
    main: Path | None = None

    @classmethod
    def around(cls, main: Path | None, folder: Path | None = None) -> AgentFolder:
        """``folder`` or ``agents/`` beside the main file (else in the working directory)."""
        if folder is None:
            base = main.resolve().parent if main is not None else Path.cwd()
            folder = base / AGENTS_DIR
        return cls(folder=folder, main=main)

    def definitions(self) -> dict[str, Path]:
        """Key -> file, the main file first (it is the default agent)."""
        out: dict[str, Path] = {}
        if self.main is not None and self.main.exists():
            out[self.main.stem] = self.main
        if self.folder is not None and self.folder.is_dir():
            for p in sorted(self.folder.glob("*.yaml")):
                if KEY_PATTERN.match(p.stem) and p.stem not in out:
                    out[p.stem] = p
        return out

    def default(self) -> str | None:
        defs = self.definitions()
        return next(iter(defs), None)

    def path(self, key: str) -> Path:
        """The file of an existing agent; ConfigError naming the known ones otherwise."""
        defs = self.definitions()
        if key not in defs:
            known = ", ".join(defs) or "none"
            raise ConfigError(f"no agent named {key!r}; agents: {known}")
        return defs[key]

    def new_path(self, key: str) -> Path:
        """Where a new agent ``key`` goes; ConfigError when one has that name already."""
        check_key(key)
        if key in self.definitions():
            raise ConfigError(f"an agent named {key!r} exists already ({self.path(key)})")
        if self.folder is None:
            raise ConfigError("this server serves one agent file; new agents go in agents/")
        return self.folder / f"{key}.yaml"
