"""What every shop tool shares: the per-session data, a timeout, errors the LLM can read.

A tool never crashes the conversation: a bad argument raises :func:`fail` (a ``ToolError``
whose JSON message the LLM sees), a timeout or an unexpected exception becomes one too, and
the exception is logged.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from livekit.agents import RunContext, StopResponse, ToolError

from ..agent.userdata import SessionData
from .catalogue import Product

if TYPE_CHECKING:
    from .shop import Shop

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


class ToolBox:
    """Base of the tool groups: holds the shop (catalogue, knowledge base, orders)."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def product(self, ref: str, language: str = "en") -> Product:
        """A product from its id or (fuzzy) name; refuses unknown and ambiguous names."""
        cat = self.shop.catalogue
        ref = (ref or "").strip()
        if not ref:
            fail("missing_product", "Say which product (its id or name).")
        exact = cat.get(ref)
        if exact is not None:
            return exact
        found, candidates = cat.lexicon.best(ref)
        if found is not None:
            return found
        if candidates:
            fail(
                "ambiguous_product",
                f"{ref!r} matches several products; ask the user which one.",
                query=ref,
                candidates=[cat.card(p, language) for p in candidates[:5]],
            )
        names = {p.name.get(language): p for p in cat.products.values()}
        close = difflib.get_close_matches(ref, list(names), n=3, cutoff=0.5)
        fail(
            "unknown_product",
            f"No product matches {ref!r}. Do not invent one.",
            query=ref,
            suggestions=[{"id": names[n].id, "name": n} for n in close],
        )

    def products(self, refs: list[str], language: str = "en") -> list[Product]:
        out: list[Product] = []
        for ref in refs:
            p = self.product(ref, language)
            if p not in out:
                out.append(p)
        return out


def guarded(fn: F) -> F:
    """Per-tool timeout and error containment; keeps the signature for ``function_tool``."""

    @functools.wraps(fn)
    async def wrapper(self: ToolBox, ctx: RunContext[Any], *args: Any, **kwargs: Any) -> Any:
        timeout = self.shop.options.tool_timeout
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
