"""What every shop tool shares: the shop, product lookup by id or name, and the platform's
tool helpers (:mod:`causerie.tools.base`: readable errors, session data, a timeout)."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ...tools.base import dump, fail, guarded, session_data
from .catalogue import Product

if TYPE_CHECKING:
    from .shop import Shop

__all__ = ["ToolBox", "dump", "fail", "guarded", "session_data"]


class ToolBox:
    """Base of the tool groups: holds the shop (catalogue, knowledge base, orders)."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    @property
    def tool_timeout(self) -> float:
        return self.shop.options.tool_timeout

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
