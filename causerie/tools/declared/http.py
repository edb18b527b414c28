"""Calling a declared tool's API: one HTTP request with the safety rules of docs/TOOLS.md.

Every failure (timeout, refused host, non-2xx, too large, invalid JSON) becomes a
``ToolError`` whose message the agent can say; the session never sees an exception. The
secrets the request used are masked in those messages, in the text the LLM sees and in
log lines, httpx's own included (:class:`MaskSecrets`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from livekit.agents import ToolError

from ...config.api_tools import IDEMPOTENT, ApiToolSpec
from ...config.templating import MISSING, fill, fill_value, jinja, mask, select

logger = logging.getLogger("causerie.tools.declared")
_SECRETS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "causerie_api_tool_secrets", default=()
)
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@functools.cache
def _tls() -> ssl.SSLContext:
    """Loading the CA bundle costs ~65 ms (measured: bench/declared_tools.py): done once per
    process, off the event loop, and shared by every call's client (it is not changed)."""
    return httpx.create_ssl_context()


class MaskSecrets(logging.Filter):
    """Masks the current call's secrets in a log record (httpx logs each request's URL).

    Stateless: the secrets live in a context variable set for the duration of one call, so
    concurrent calls of different tools each mask their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _SECRETS.get()
        if secrets:
            msg = record.getMessage()
            masked = mask(msg, secrets)
            if masked != msg:
                record.msg, record.args = masked, None
        return True


def install_log_mask() -> None:
    for name in ("httpx", "httpcore", logger.name):
        lg = logging.getLogger(name)
        if not any(isinstance(f, MaskSecrets) for f in lg.filters):
            lg.addFilter(MaskSecrets())


@dataclass
class ApiAnswer:
    text: str
    """What the LLM sees."""
    context: dict[str, Any]
    """``response``, ``status``, ``args`` and the parameters: for the UI card's templates."""


class _Refused(Exception):
    pass


class ApiCaller:
    """Calls one declared tool. ``transport`` is for tests (an httpx mock transport)."""

    def __init__(
        self,
        tool: ApiToolSpec,
        env: Mapping[str, str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.tool = tool
        self.env = {k: env[k] for k in tool.env_vars() if k in env}
        self.secrets = tuple(v for v in self.env.values() if v)
        self.label = tool.name.replace("_", " ")
        self._transport = transport
        self._tls: ssl.SSLContext | None = None
        self._templates: dict[str, Any] = {}
        install_log_mask()

    def fail(self, message: str) -> ToolError:
        return ToolError(mask(message, self.secrets))

    async def call(self, args: Mapping[str, Any]) -> ApiAnswer:
        token = _SECRETS.set(self.secrets)
        try:
            if self._tls is None:
                self._tls = await asyncio.to_thread(_tls)
            return await self._call(dict(args))
        finally:
            _SECRETS.reset(token)

    def _request(self, args: dict[str, Any]) -> dict[str, Any]:
        req = self.tool.request
        url = fill(req.url, args, self.env, quote=lambda s: quote(s, safe=""))
        self._check_url(url)
        headers = {k: fill(v, args, self.env) for k, v in req.headers.items()}
        query = {
            k: v
            for k, v in ((k, fill_value(v, args, self.env)) for k, v in req.query.items())
            if v is not MISSING and v != ""
        }
        out: dict[str, Any] = {
            "method": req.method,
            "url": url,
            "headers": {k: v for k, v in headers.items() if v},
            "params": query,
        }
        if req.body is not None and req.method not in ("GET", "HEAD"):
            body = fill_value(req.body, args, self.env)
            out["json"] = None if body is MISSING else body
        return out

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _Refused(f"only http and https URLs are allowed, not {url!r}")
        allowed = self.tool.request.allowed_hosts
        if allowed and parts.hostname.lower() not in allowed:
            raise _Refused(f"host {parts.hostname!r} is not in allowed_hosts")

    async def _on_request(self, request: httpx.Request) -> None:
        self._check_url(str(request.url))  # redirects too: httpx calls this for each hop

    async def _call(self, args: dict[str, Any]) -> ApiAnswer:
        req = self.tool.request
        try:
            kwargs = self._request(args)
        except _Refused as e:
            logger.warning("api tool %s refused: %s", self.tool.name, mask(str(e), self.secrets))
            raise self.fail(f"The {self.label} tool is not allowed to call that address.") from None
        attempts = 1 + (req.retries if req.method in IDEMPOTENT else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(req.timeout):
                    status, reason, body = await self._send(kwargs)
            except (TimeoutError, httpx.TimeoutException):
                logger.warning("api tool %s: no answer in %g s", self.tool.name, req.timeout)
                if last:
                    raise self.fail(
                        f"The {self.label} service did not answer in time. "
                        "Tell the user it did not work this time."
                    ) from None
            except _Refused as e:
                logger.warning("api tool %s refused: %s", self.tool.name, e)
                raise self.fail(
                    f"The {self.label} service redirected to an address that is not allowed."
                ) from None
            except httpx.TooManyRedirects:
                raise self.fail(f"The {self.label} service redirected too many times.") from None
            except httpx.HTTPError as e:
                logger.warning("api tool %s: %s", self.tool.name, mask(repr(e), self.secrets))
                if last:
                    raise self.fail(f"The {self.label} service could not be reached.") from None
            else:
                logger.info(
                    "api tool %s: %s -> %d in %.0f ms",
                    self.tool.name,
                    req.method,
                    status,
                    (time.perf_counter() - t0) * 1000,
                )
                if status in RETRY_STATUSES or status >= 500:
                    if not last:
                        await asyncio.sleep(0.2 * (attempt + 1))
                        continue
                return self._answer(args, status, reason, body)
            await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _send(self, kwargs: dict[str, Any]) -> tuple[int, str, bytes]:
        req = self.tool.request
        cap = req.max_response_bytes
        async with (
            httpx.AsyncClient(
                follow_redirects=req.max_redirects > 0,
                max_redirects=req.max_redirects,
                timeout=req.timeout,
                transport=self._transport,
                verify=self._tls or True,
                event_hooks={"request": [self._on_request]},
                trust_env=False,
            ) as client,
            client.stream(**kwargs) as resp,
        ):
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise self.fail(self._too_large(cap))
            chunks, size = [], 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise self.fail(self._too_large(cap))
                chunks.append(chunk)
            return resp.status_code, resp.reason_phrase, b"".join(chunks)

    def _too_large(self, cap: int) -> str:
        logger.warning("api tool %s: answer over %d bytes", self.tool.name, cap)
        return f"The {self.label} service sent an answer too large to use (over {cap} bytes)."

    def _answer(self, args: dict[str, Any], status: int, reason: str, body: bytes) -> ApiAnswer:
        resp = self.tool.response
        text = body.decode("utf-8", errors="replace")
        try:
            data: Any = json.loads(text) if text.strip() else None
            is_json = True
        except ValueError:
            data, is_json = text, False
        ctx = {**args, "args": args, "response": data, "status": status}
        if not 200 <= status < 300:
            custom = resp.errors.get(status)
            msg = (
                self._render(custom, ctx)
                if custom
                else f"The {self.label} service answered with an error ({status} {reason})."
            )
            raise self.fail(msg)
        if not is_json and (resp.path or (resp.template and "response." in resp.template)):
            raise self.fail(f"The {self.label} service sent an answer that is not valid JSON.")
        if not text.strip() and not resp.template:  # 204 No Content, typically
            out = f"The {self.label} request succeeded (the service sent no content)."
        elif resp.template:
            out = self._render(resp.template, ctx)
        elif resp.path:
            values = select(data, resp.path)
            if not values:
                raise self.fail(f"The {self.label} service's answer has no {resp.path}.")
            out = "\n".join(v if isinstance(v, str) else _dump(v) for v in values)
        else:
            out = _dump(data) if is_json else text
        out = mask(out.strip(), self.secrets)
        if len(out) > resp.max_chars:
            out = out[: resp.max_chars - 1] + "…"
        return ApiAnswer(out, ctx)

    def template(self, source: str) -> Any:
        """Compiled once per tool (compiling costs more than rendering)."""
        if source not in self._templates:
            self._templates[source] = jinja().from_string(source)
        return self._templates[source]

    def _render(self, source: str, ctx: dict[str, Any]) -> str:
        try:
            return self.template(source).render(ctx).strip()
        except Exception as e:  # a template that breaks on this answer: say so, not crash
            logger.warning("api tool %s: template failed: %s", self.tool.name, e)
            raise self.fail(f"The {self.label} tool could not read the service's answer.") from e


def _dump(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
