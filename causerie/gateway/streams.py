"""Engine output handed to a response through a task of its own.

A streamed response is primed in the request's task (so an engine failing at once gets a
real HTTP status) and then sent from Starlette's. A timeout or an engine stream entered in
one task must not be left in another, so the engine runs in one owned task and its items
cross a small queue: a slow client slows the engine, and closing the stream (client gone)
cancels the task and waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

from livekit.agents import utils

T = TypeVar("T")
_END = object()


async def produced(
    source: Callable[[], AsyncIterator[T]], *, time_limit: float, name: str
) -> AsyncGenerator[T]:
    """The items of ``source()``, made in a task bounded by ``time_limit`` seconds
    (TimeoutError past it); the task's errors are raised here."""
    queue: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue(maxsize=4)

    async def run() -> None:
        try:
            async with asyncio.timeout(time_limit):
                async for item in source():
                    await queue.put((item, None))
        except Exception as e:
            await queue.put((_END, e))
        else:
            await queue.put((_END, None))

    task = asyncio.create_task(run(), name=name)
    try:
        while True:
            item, error = await queue.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        await utils.aio.cancel_and_wait(task)
