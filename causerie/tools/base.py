"""What any app's tools may share: errors the LLM can read, the session's data, a timeout.

A tool never crashes the conversation: a bad argument raises :func:`fail` (a ``ToolError``
whose JSON message the LLM sees), a timeout or an unexpected exception becomes one too
(:func:`guarded`), and the exception is logged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

from livekit.agents import RunContext, StopResponse, ToolError

from ..userdata import SessionData

logger = logging.getLogger("causerie.tools")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def fail(code: str, message: str, **extra: Any) -> NoReturn:
    """Refuse a call; ``message`` is for the LLM, ``code`` lets the scripted brain phrase it."""
    raise ToolError(dump({"error": code, "message": message, **extra}))


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def session_data(ctx: RunContext[Any]) -> SessionData:
    """The session's :class:`SessionData`; one is attached if the caller made none."""
    try:
        data = ctx.userdata
    except ValueError:
        data = None
    if not isinstance(data, SessionData):
        data = SessionData()
        ctx.session.userdata = data
    return data


def guarded(fn: F) -> F:
    """Per-tool timeout (the box's ``tool_timeout``) and error containment; keeps the
    signature for ``function_tool``."""

    @functools.wraps(fn)
    async def wrapper(self: Any, ctx: RunContext[Any], *args: Any, **kwargs: Any) -> Any:
        timeout: float = self.tool_timeout
        try:
            return await asyncio.wait_for(fn(self, ctx, *args, **kwargs), timeout=timeout)
        except (ToolError, StopResponse):
            raise
        except TimeoutError:
            logger.warning("tool %s timed out after %.1f s", fn.__name__, timeout)
            fail(
                "timeout",
                f"The {fn.__name__} tool took longer than {timeout:g} s and was stopped. "
                "Tell the user it did not work this time.",
            )
        except Exception as e:
            logger.exception("tool %s failed", fn.__name__)
            fail(
                "internal_error",
                f"The {fn.__name__} tool failed ({type(e).__name__}). "
                "Tell the user it did not work; do not invent a result.",
            )

    return wrapper  # type: ignore[return-value]
