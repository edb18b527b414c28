"""The dashboard's static files (``/dashboard``): a fixed list read at startup, so no path
from a request reaches the disk; its pages carry their own Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "web" / "dashboard"
_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'"
)


def dashboard_routes(router: APIRouter) -> None:
    files = {
        p.relative_to(DASHBOARD_DIR).as_posix(): p
        for p in DASHBOARD_DIR.rglob("*")
        if p.is_file() and p.suffix in _MEDIA
    }

    def serve(name: str) -> Response:
        path = files.get(name)  # a fixed list: no path from the request reaches the disk
        if path is None:
            return JSONResponse(
                {"error": "not_found", "message": f"no dashboard file {name!r}"}, status_code=404
            )
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if name.endswith(".html"):
            headers["Content-Security-Policy"] = _CSP
        return FileResponse(path, media_type=_MEDIA[path.suffix], headers=headers)

    @router.get("/dashboard", include_in_schema=False)
    async def dashboard_index() -> Response:
        return serve("index.html")

    @router.get("/dashboard/{name:path}", include_in_schema=False)
    async def dashboard_file(name: str) -> Response:
        return serve(name or "index.html")
