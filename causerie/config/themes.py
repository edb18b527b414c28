"""Themes for the talk page (docs/THEMES.md): a folder with ``theme.css`` (CSS variables),
an optional logo and an optional ``visualiser.js``.

A folder ``themes/<name>/`` next to agent.yaml wins over the built-in theme of that name, so a
page is branded without touching Causerie's files. Files are served from a theme folder only:
each path part is checked, the suffix must be a known media type, and the resolved path must
stay inside the folder (a symlink pointing out of it is refused too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "web" / "themes"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MEDIA = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
}
STYLESHEET = "theme.css"
VISUALISER = "visualiser.js"
LOGOS = ("logo.svg", "logo.png", "logo.webp", "logo.jpg")


@dataclass(frozen=True)
class Theme:
    name: str
    root: Path
    builtin: bool

    def file(self, relpath: str) -> Path | None:
        """The file at ``relpath`` inside this theme, or None (missing, hidden, unknown
        type, or outside the folder)."""
        parts = relpath.split("/")
        if not all(_PART_RE.fullmatch(p) and ".." not in p for p in parts):
            return None
        if Path(parts[-1]).suffix.lower() not in MEDIA:
            return None
        root = self.root.resolve()
        path = root.joinpath(*parts).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    @property
    def logo(self) -> str | None:
        return next((name for name in LOGOS if self.file(name)), None)

    @property
    def has_visualiser(self) -> bool:
        return self.file(VISUALISER) is not None

    def describe(self, base: str) -> dict[str, Any]:
        """What the page needs: URLs under ``base`` (``/theme`` or ``/themes/<name>``)."""
        logo = self.logo
        return {
            "name": self.name,
            "builtin": self.builtin,
            "css": f"{base}/{STYLESHEET}",
            "logo": f"{base}/{logo}" if logo else None,
            "visualiser": f"{base}/{VISUALISER}" if self.has_visualiser else None,
        }


class Themes:
    """Finds themes: ``user_dir/<name>/`` first (``themes/`` next to agent.yaml), then the
    built-in ones."""

    def __init__(self, user_dir: Path | None, builtin_dir: Path = BUILTIN_DIR) -> None:
        self.user_dir = user_dir
        self.builtin_dir = builtin_dir

    def find(self, name: str) -> Theme | None:
        if not NAME_RE.fullmatch(name):
            return None
        for root, builtin in ((self.user_dir, False), (self.builtin_dir, True)):
            if root is not None and (root / name / STYLESHEET).is_file():
                return Theme(name, root / name, builtin)
        return None

    def names(self) -> list[str]:
        found: set[str] = set()
        for root in (self.user_dir, self.builtin_dir):
            if root is not None and root.is_dir():
                found.update(p.parent.name for p in root.glob(f"*/{STYLESHEET}"))
        return sorted(n for n in found if NAME_RE.fullmatch(n))

    def require(self, name: str) -> Theme:
        """The theme ``name`` or a ConfigError naming ``ui.theme``, where it looked and what
        exists."""
        theme = self.find(name)
        if theme is not None:
            return theme
        where = f"{self.user_dir / name}/{STYLESHEET}" if self.user_dir else "no themes/ folder"
        raise ConfigError(
            f"ui.theme: no theme {name!r} (looked for {where} and a built-in one); "
            f"available: {', '.join(self.names()) or '(none)'}"
        )
