"""Bearer API keys (constant-time comparison) and per-key concurrency, as FastAPI dependencies."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import APIError

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"


class KeyRing:
    """The accepted keys. A key is known to the rest of the gateway only by its index."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._keys)} keys)"

    def identify(self, token: str) -> str | None:
        """The key's id, or None. Every key is compared, so timing tells nothing."""
        given = token.encode()
        found: str | None = None
        for i, key in enumerate(self._keys):
            if hmac.compare_digest(given, key):
                found = f"key-{i}"
        return found


class ConcurrencyLimiter:
    """At most ``limit`` requests (streams included) in flight per key."""

    def __init__(self, limit: int, retry_after: int) -> None:
        self.limit, self.retry_after = limit, retry_after
        self._active: dict[str, int] = {}

    def active(self, key: str) -> int:
        return self._active.get(key, 0)

    def acquire(self, key: str) -> None:
        if self.active(key) >= self.limit:
            raise APIError(
                429,
                f"too many concurrent requests for this API key (limit {self.limit}); "
                f"retry after {self.retry_after} s",
                code="concurrency_limit_exceeded",
                headers={"Retry-After": str(self.retry_after)},
            )
        self._active[key] = self.active(key) + 1

    def release(self, key: str) -> None:
        left = self.active(key) - 1
        if left > 0:
            self._active[key] = left
        else:
            self._active.pop(key, None)


_bearer = HTTPBearer(auto_error=False, description="A gateway API key.")


def _keyring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.keyring
    return ring


def _limiter(request: Request) -> ConcurrencyLimiter:
    limiter: ConcurrencyLimiter = request.app.state.limiter
    return limiter


async def api_key(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ring: Annotated[KeyRing, Depends(_keyring)],
) -> str:
    if not ring.enabled:
        return ANONYMOUS
    if creds is None:
        raise APIError(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key_id = ring.identify(creds.credentials)
    if key_id is None:
        raise APIError(
            401,
            "incorrect API key provided",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key_id


async def request_slot(
    key: Annotated[str, Depends(api_key)],
    limiter: Annotated[ConcurrencyLimiter, Depends(_limiter)],
) -> AsyncIterator[str]:
    """Held until the response's last byte is sent (FastAPI closes yield dependencies after
    the response, streams included)."""
    limiter.acquire(key)
    try:
        yield key
    finally:
        limiter.release(key)


Slot = Annotated[str, Depends(request_slot)]
