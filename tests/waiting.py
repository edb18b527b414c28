"""Waiting for a condition in tests: poll it with a generous timeout, never a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

GENEROUS_S = 30.0


async def until(cond: Callable[[], object], what: str, within: float = GENEROUS_S) -> None:
    """Wait until ``cond()`` is true; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.01)


def wait_until(cond: Callable[[], object], what: str, within: float = GENEROUS_S) -> None:
    """``until`` for a thread without an event loop."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(0.01)
