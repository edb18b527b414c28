"""The ordered, bounded, retrying queue behind :class:`~causerie.store.BufferedStore`.

``put(fn, *args)`` appends a write (a coroutine function and its arguments) and returns at
once; one task replays the writes in order. A write that fails with an error the backend may
recover from (``is_transient``) stays at the head and is retried with exponential backoff;
one that fails for good is dropped so it cannot block the rest. A write is done (durable,
for a store backend) only once that task ran it: ``flush()`` waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

_Write = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]


class WriteQueue:
    """Counters: ``pending``, ``written``, ``failures`` (failed attempts), ``dropped``
    (queue full or closed, refused for good, or unflushed at ``stop``), ``healthy`` (the
    last attempt succeeded) and ``last_error``."""

    def __init__(
        self,
        *,
        name: str,
        is_transient: Callable[[BaseException], bool],
        max_pending: int = 10_000,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        write_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.is_transient = is_transient
        self.max_pending = max_pending
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._write_timeout = write_timeout
        self._buf: deque[_Write] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closing = False
        self._dropping = False
        self.written = 0
        self.failures = 0
        self.dropped = 0
        self.healthy = True
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        return len(self._buf)

    def start(self) -> None:
        """Start the drain task (done by the first write otherwise). Needs a running loop."""
        if self._task is None and not self.closing:
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), name=f"causerie.store.drain[{self.name}]"
            )

    def put(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        """Queue ``fn(*args)``; False (counted in ``dropped``) when full or stopped."""
        if self.closing or len(self._buf) >= self.max_pending:
            self.dropped += 1
            if not self._dropping:  # once per streak, not once per record
                self._dropping = True
                why = "closed" if self.closing else f"full ({self.max_pending} pending)"
                logger.warning("store buffer %s: dropping writes to %s", why, self.name)
            return False
        self._dropping = False
        self._buf.append((fn, args))
        if self._task is None:
            self.start()
        self._wake.set()
        return True

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every queued write ran; ``False`` on timeout."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._buf:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop taking writes, run the queued ones for up to ``timeout`` seconds, drop (and
        count) what is left."""
        if self.closing:
            return
        self.closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._buf:
            logger.warning(
                "store closed with %d write(s) not flushed to %s; dropped",
                len(self._buf),
                self.name,
            )
            self.dropped += len(self._buf)
            self._buf.clear()

    async def _drain(self) -> None:
        delay = self._retry_initial
        while True:
            if not self._buf:
                if self.closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            fn, args = self._buf[0]
            try:
                await asyncio.wait_for(fn(*args), self._write_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                error, self.last_error = self.last_error, f"{type(exc).__name__}: {exc}"
                if not self.is_transient(exc):
                    self._buf.popleft()
                    self.dropped += 1
                    if error != self.last_error:  # not once per record of a broken backend
                        logger.error("store refused a write (%s); dropped it", self.last_error)
                    continue
                if self.healthy:
                    logger.warning(
                        "store %s failing (%s); buffering writes", self.name, self.last_error
                    )
                    self.healthy = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self._buf.popleft()
            self.written += 1
            if not self.healthy:
                logger.warning("store %s recovered; %d pending", self.name, len(self._buf))
                self.healthy = True
            delay = self._retry_initial
