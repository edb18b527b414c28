"""A local HTTP API for the declared-tool tests: each route is one way an API can answer."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

ORDERS = {
    "A1001": {"order_id": "A1001", "status": "shipped", "carrier": "La Poste", "eta": "Tuesday"},
    "A1002": {"order_id": "A1002", "status": "preparing", "carrier": None, "eta": "Friday"},
}


class ApiServer:
    """Records every request (method, path, query, headers, JSON body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.hits: dict[str, int] = {}
        self.release = asyncio.Event()  # the /slow route waits on it
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        r = app.router
        r.add_get("/orders/{oid}", self._order)
        r.add_post("/orders/{oid}/cancel", self._cancel)
        r.add_get("/slow", self._slow)
        r.add_get("/huge", self._huge)
        r.add_get("/huge-chunked", self._huge_chunked)
        r.add_get("/not-json", self._not_json)
        r.add_get("/fail", self._fail)
        r.add_get("/flaky", self._flaky)
        r.add_get("/redirect", self._redirect)
        r.add_get("/loop", self._loop)
        r.add_get("/echo", self._echo)
        r.add_delete("/orders/{oid}", self._delete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> None:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        self.hits[request.path] = self.hits.get(request.path, 0) + 1

    async def _order(self, request: web.Request) -> web.Response:
        await self._record(request)
        if request.headers.get("Authorization") != "Bearer s3cret-token":
            return web.json_response({"message": "bad token"}, status=401)
        order = ORDERS.get(request.match_info["oid"])
        if order is None:
            return web.json_response({"message": "no such order"}, status=404)
        return web.json_response({"order": order})

    async def _cancel(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"cancelled": request.match_info["oid"]}, status=503)

    async def _slow(self, request: web.Request) -> web.Response:
        await self._record(request)
        await self.release.wait()
        return web.json_response({"late": True})

    async def _huge(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 2_000_000, content_type="application/json")

    async def _huge_chunked(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # no Content-Length: the cap must hold while reading
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"y" * 20_000)
        await resp.write_eof()
        return resp

    async def _not_json(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>", content_type="text/html")

    async def _fail(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"message": "boom"}, status=500)

    async def _flaky(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.hits["/flaky"] == 1:
            return web.json_response({"message": "try again"}, status=503)
        return web.json_response({"ok": True})

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("to", "/echo"))

    async def _loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def _delete(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=204)

    async def _echo(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"query": dict(request.query)})
