"""Every error leaves the gateway in OpenAI's shape:
``{"error": {"message", "type", "param", "code"}}``, so OpenAI clients raise their usual
exceptions (``openai.AuthenticationError``, ``RateLimitError``, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body, as the OpenAPI schema documents it."""

    error: ErrorDetail


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for these error statuses, in OpenAI's shape."""
    return {s: {"model": ErrorResponse, "description": "Error (OpenAI's shape)"} for s in statuses}


def ok(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a 200 of these media types."""
    return {200: {"description": "OK", "content": {m: {} for m in media_types}}}


class APIError(Exception):
    """Raised by routes and dependencies; rendered by :func:`install_handlers`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, code=self.code, param=self.param)


def error_body(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, code=code, param=param)


def install_handlers(
    app: FastAPI, on_error: Callable[[Request, APIError], None] | None = None
) -> None:
    """``on_error(request, error)`` is told of every error (metrics, log)."""

    def respond(request: Request, err: APIError) -> JSONResponse:
        if on_error is not None:
            on_error(request, err)
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError) -> JSONResponse:
        return respond(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "header")]
        param = ".".join(loc) or None
        text = str(first.get("msg", "invalid value"))
        if param is None:
            msg = "invalid request"
        elif text.startswith(f"{param}:"):  # our own checks name the field already
            msg = text
        else:
            msg = f"{param}: {text}"
        return respond(request, APIError(400, msg, code="invalid_value", param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, param = {404: ("not_found", None), 413: ("file_too_large", "file")}.get(
            exc.status_code, (None, None)
        )
        err = APIError(
            exc.status_code,
            str(exc.detail),
            code=code,
            param=param,
            headers=dict(exc.headers or {}),
        )
        return respond(request, err)
