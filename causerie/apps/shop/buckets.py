"""The user's data buckets: a selection (products set aside), the cart, and what the user
told about themselves. State lives in ``SessionData.state`` (see :mod:`.state`)."""

from __future__ import annotations

from typing import Any

from livekit.agents import RunContext, function_tool

from ...userdata import SessionData
from .base import ToolBox, dump, fail, guarded, session_data
from .catalogue import Product
from .state import cart, cart_summary, memory, remember_shown, selection


class BucketTools(ToolBox):
    # -- selection ---------------------------------------------------------------------------

    def _selection_out(self, data: SessionData, action: str) -> str:
        cat = self.shop.catalogue
        cards = [cat.card(p, data.language) for pid in selection(data) if (p := cat.get(pid))]
        data.events.emit("product_cards", products=cards, context="selection", action=action)
        return dump({"selection": cards, "count": len(cards)})

    @function_tool()
    @guarded
    async def selection_add(self, ctx: RunContext[Any], products: list[str]) -> str:
        """Set products aside in the user's selection, to compare or decide later (not the cart).

        Args:
            products: Product ids (or names) to add.
        """
        data = session_data(ctx)
        sel = selection(data)
        found = self.products(products, data.language)
        for p in found:
            if p.id not in sel:
                sel.append(p.id)
        remember_shown(data, [p.id for p in found])
        return self._selection_out(data, "add")

    @function_tool()
    @guarded
    async def selection_remove(self, ctx: RunContext[Any], products: list[str]) -> str:
        """Remove products from the user's selection.

        Args:
            products: Product ids (or names) to remove.
        """
        data = session_data(ctx)
        sel = selection(data)
        for p in self.products(products, data.language):
            if p.id not in sel:
                fail(
                    "not_in_selection",
                    f"{p.name.get(data.language)} is not in the selection.",
                    product_id=p.id,
                )
            sel.remove(p.id)
        return self._selection_out(data, "remove")

    @function_tool()
    @guarded
    async def selection_list(self, ctx: RunContext[Any]) -> str:
        """List the products in the user's selection."""
        return self._selection_out(session_data(ctx), "list")

    @function_tool()
    @guarded
    async def selection_clear(self, ctx: RunContext[Any]) -> str:
        """Empty the user's selection."""
        data = session_data(ctx)
        selection(data).clear()
        return self._selection_out(data, "clear")

    # -- cart --------------------------------------------------------------------------------

    def _check_quantity(self, p: Product, quantity: int, language: str) -> None:
        name = p.name.get(language)
        limit = self.shop.options.max_quantity
        if quantity < 1:
            fail(
                "invalid_quantity",
                f"Quantity must be at least 1 (got {quantity}). "
                "To take a product out of the cart, use cart_remove.",
                quantity=quantity,
            )
        if quantity > limit:
            fail(
                "quantity_too_large",
                f"At most {limit} of one product per order ({quantity} asked in all); "
                "ask the user to confirm a smaller quantity.",
                quantity=quantity,
                max_quantity=limit,
            )
        if not p.in_stock(quantity):
            fail(
                "out_of_stock" if not p.stock else "insufficient_stock",
                f"Only {p.stock or 0} of {name} in stock.",
                product_id=p.id,
                stock=p.stock or 0,
            )

    def cart_out(self, data: SessionData, action: str, product: Product | None = None) -> str:
        summary = cart_summary(self.shop.catalogue, cart(data), data.language)
        extra = {"product_id": product.id} if product else {}
        data.events.emit("cart_updated", action=action, **extra, **summary)
        return dump({"action": action, **extra, **summary})

    def add_to_cart(self, data: SessionData, ref: str, quantity: int) -> Product:
        """Shared by the tool and by client clicks (:mod:`.actions`)."""
        p = self.product(ref, data.language)
        c = cart(data)
        self._check_quantity(
            p, c.get(p.id, 0) + quantity if quantity > 0 else quantity, data.language
        )
        c[p.id] = c.get(p.id, 0) + quantity
        remember_shown(data, [p.id])
        return p

    @function_tool()
    @guarded
    async def cart_add(self, ctx: RunContext[Any], product: str, quantity: int = 1) -> str:
        """Add a product to the cart (adds to the quantity already there). Confirm what was added.

        Args:
            product: The product id (preferred) or its name.
            quantity: How many units to add, from 1 to the shop's limit (default 20).
        """
        data = session_data(ctx)
        p = self.add_to_cart(data, product, quantity)
        return self.cart_out(data, "add", p)

    @function_tool()
    @guarded
    async def cart_remove(self, ctx: RunContext[Any], product: str) -> str:
        """Take a product out of the cart entirely.

        Args:
            product: The product id (preferred) or its name.
        """
        data = session_data(ctx)
        p = self.product(product, data.language)
        c = cart(data)
        if p.id not in c:
            fail("not_in_cart", f"{p.name.get(data.language)} is not in the cart.", product_id=p.id)
        del c[p.id]
        return self.cart_out(data, "remove", p)

    @function_tool()
    @guarded
    async def cart_update_quantity(self, ctx: RunContext[Any], product: str, quantity: int) -> str:
        """Set the quantity of a product already in the cart (replaces the old quantity).

        Args:
            product: The product id (preferred) or its name.
            quantity: The new quantity, at least 1. Use cart_remove to take it out.
        """
        data = session_data(ctx)
        p = self.product(product, data.language)
        c = cart(data)
        if p.id not in c:
            fail(
                "not_in_cart",
                f"{p.name.get(data.language)} is not in the cart; use cart_add.",
                product_id=p.id,
            )
        self._check_quantity(p, quantity, data.language)
        c[p.id] = quantity
        remember_shown(data, [p.id])
        return self.cart_out(data, "update", p)

    @function_tool()
    @guarded
    async def cart_list(self, ctx: RunContext[Any]) -> str:
        """List the cart: each product with quantity and line total, and the cart total."""
        return self.cart_out(session_data(ctx), "list")

    @function_tool()
    @guarded
    async def cart_clear(self, ctx: RunContext[Any]) -> str:
        """Empty the cart. Only when the user asks for it."""
        data = session_data(ctx)
        cart(data).clear()
        return self.cart_out(data, "clear")

    # -- memory ------------------------------------------------------------------------------

    @function_tool()
    @guarded
    async def session_memory_update(
        self,
        ctx: RunContext[Any],
        name: str | None = None,
        preferences: list[str] | None = None,
        allergies: list[str] | None = None,
    ) -> str:
        """Remember what the user says about themselves, to personalise advice: their name,
        preferences (e.g. "organic", "mild cheese") and allergies (e.g. "nuts"). Allergies
        are then flagged in search results.

        Args:
            name: The user's first name, if they gave it.
            preferences: Preferences to add.
            allergies: Allergies or intolerances to add.
        """
        data = session_data(ctx)
        mem = memory(data)
        if name is not None:
            clean = " ".join(name.split())[:60]
            if not clean:
                fail("invalid_name", "The name is empty.")
            mem["name"] = clean
        for key, values in (("preferences", preferences), ("allergies", allergies)):
            for v in values or []:
                v = " ".join(str(v).split()).lower()[:60]
                if v and v not in mem.setdefault(key, []):
                    mem[key].append(v)
        if name is None and not preferences and not allergies:
            fail("nothing_to_remember", "Give a name, preferences or allergies.")
        data.events.emit("status_update", status="memory_updated", memory=dict(mem))
        return dump({"memory": mem})
