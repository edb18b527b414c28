"""What the pages need besides their static files: their strings (``/i18n/``), the agent's
language and theme (``GET /api/ui``) and the theme's files (``/theme/...``).

``GET /api/ui`` answers ``{"agent", "language", "languages", "theme": {name, css, logo,
visualiser}, "livekit": {"page_token": bool}}``; nothing in it is secret. ``/theme/<file>``
is the agent's theme (``ui.theme``), ``/themes/<name>/<file>`` any theme (previews:
``/?theme=market``). The strings are ``web/i18n/<lang>.json``, one file per language.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from ..config.spec import AgentSpec
from ..config.themes import MEDIA, Theme, Themes

I18N_DIR = Path(__file__).resolve().parent.parent / "web" / "i18n"
_NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _not_found(message: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": message}, status_code=404)


def languages(i18n_dir: Path = I18N_DIR) -> list[str]:
    """The languages the pages are translated into, English first."""
    found = sorted(p.stem for p in i18n_dir.glob("*.json"))
    return sorted(found, key=lambda lang: lang != "en")


def i18n_router(language: str | None = None, i18n_dir: Path = I18N_DIR) -> APIRouter:
    """``/i18n/i18n.js``, ``/i18n/<lang>.json`` (a fixed list of files) and
    ``/i18n/index.json``: ``{"language": the agent's or null, "languages": [...]}``."""
    media = {".json": "application/json", ".js": "text/javascript; charset=utf-8"}
    files = {p.name: p for p in i18n_dir.iterdir() if p.is_file() and p.suffix in media}
    index = {"language": language, "languages": languages(i18n_dir)}
    router = APIRouter()

    @router.get("/i18n/index.json", include_in_schema=False)
    async def i18n_index() -> Response:
        return JSONResponse(index, headers=_NO_CACHE)

    @router.get("/i18n/{name}", include_in_schema=False)
    async def i18n_file(name: str) -> Response:
        path = files.get(name)  # no path from the request reaches the disk
        if path is None:
            return _not_found(f"no file {name!r}; languages: {', '.join(languages(i18n_dir))}")
        return FileResponse(path, media_type=media[path.suffix], headers=_NO_CACHE)

    return router


def _serve(theme: Theme, relpath: str) -> Response:
    path = theme.file(relpath)
    if path is None:
        return _not_found(f"no file {relpath!r} in theme {theme.name!r}")
    return FileResponse(path, media_type=MEDIA[path.suffix.lower()], headers=_NO_CACHE)


def ui_router(spec: AgentSpec, themes: Themes, theme: Theme, *, page_token: bool) -> APIRouter:
    """``/api/ui`` and the theme files. ``theme`` is the agent's (``themes.require``)."""
    router = APIRouter()
    info = {
        "agent": spec.name,
        "language": spec.ui.language or spec.language,
        "languages": languages(),
        "theme": theme.describe("/theme"),
        "livekit": {"page_token": page_token},
    }

    @router.get("/api/ui")
    async def ui_info() -> Response:
        return JSONResponse(info, headers={"Cache-Control": "no-cache"})

    @router.get("/theme/{relpath:path}", include_in_schema=False)
    async def theme_file(relpath: str) -> Response:
        return _serve(theme, relpath)

    @router.get("/themes/{name}", include_in_schema=False)
    async def theme_info(name: str) -> Response:
        found = themes.find(name)
        if found is None:
            return _not_found(f"no theme {name!r}; available: {', '.join(themes.names())}")
        return JSONResponse(found.describe(f"/themes/{name}"))

    @router.get("/themes/{name}/{relpath:path}", include_in_schema=False)
    async def any_theme_file(name: str, relpath: str) -> Response:
        found = themes.find(name)
        if found is None:
            return _not_found(f"no theme {name!r}; available: {', '.join(themes.names())}")
        return _serve(found, relpath)

    return router
