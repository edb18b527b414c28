"""What the OpenAPI schema (``/openapi.json``) says about routes that read their request
themselves (to bound its size, or to answer a JSON ``{"error", "message"}`` naming the bad
field): their error responses, query parameters and JSON bodies. schemathesis checks the
server against it (tests/integration/test_fuzz_http.py), so it has to be true."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_WHY = {
    400: "Malformed request (the message says what is expected)",
    401: "Missing or wrong token",
    403: "Origin not allowed",
    404: "Not found",
    409: "Conflict: changed since the edit began (the message says how to go on)",
    413: "Request body too large",
    422: "Invalid parameter (the message names it and what is allowed)",
    429: "Rate limited (Retry-After)",
    503: "Busy, or a dependency is not available",
}


class ErrorBody(BaseModel):
    """Every error of the server: a stable code and a message for a person."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for these error statuses."""
    return {code: {"model": ErrorBody, "description": _WHY[code]} for code in codes}


def query(*params: tuple[str, dict[str, Any], str]) -> dict[str, Any]:
    """``openapi_extra=`` declaring optional query parameters (name, schema, description)."""
    return {
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": s, "description": d}
            for n, s, d in params
        ]
    }


def json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra=`` declaring a JSON request body the route reads itself."""
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}
    }


def content(*media_types: str, description: str = "OK") -> dict[str, Any]:
    """A 200 response of these media types."""
    return {"description": description, "content": {m: {} for m in media_types}}


DURATION = {"type": "string", "example": "1h"}
"""``90s``, ``15m``, ``1h``, ``7d`` or seconds."""
