"""Clicks in the client (``user_interaction`` / ``custom_action`` events) applied to the
session's cart and selection, then acknowledged out loud.

The platform's app registry passes each click it receives to :func:`handle_client_action`, e.g.::

    {"type": "custom_action", "action": "add_to_cart", "product_id": "comte-18-mois", "quantity": 2}

The change is made directly (no LLM round trip, so a click is instant and certain) and the
agent says a short sentence, which also lands in the chat history so the LLM knows.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from livekit.agents import ToolError

from ...userdata import SessionData
from .shop import shop_of

logger = logging.getLogger(__name__)

ACTIONS = (
    "add_to_cart",
    "remove_from_cart",
    "update_quantity",
    "clear_cart",
    "add_to_selection",
    "remove_from_selection",
    "view_product",
)
_SYNONYMS = {
    "cart_add": "add_to_cart",
    "cart_remove": "remove_from_cart",
    "select": "add_to_selection",
    "unselect": "remove_from_selection",
    "selection_add": "add_to_selection",
    "selection_remove": "remove_from_selection",
    "click_product": "view_product",
    "set_quantity": "update_quantity",
}

_SAY = {
    "add_to_cart": (
        "Done, I've added {qty} × {name} to your cart. Your total is {total}.",
        "C'est fait, j'ai ajouté {qty} × {name} à votre panier. Le total est de {total}.",
    ),
    "remove_from_cart": (
        "I've taken {name} out of your cart. Your total is {total}.",
        "J'ai retiré {name} de votre panier. Le total est de {total}.",
    ),
    "update_quantity": (
        "You now have {qty} × {name} in your cart. Your total is {total}.",
        "Vous avez maintenant {qty} × {name} dans votre panier. Le total est de {total}.",
    ),
    "clear_cart": ("Your cart is now empty.", "Votre panier est maintenant vide."),
    "add_to_selection": (
        "I've put {name} in your selection.",
        "J'ai mis {name} dans votre sélection.",
    ),
    "remove_from_selection": (
        "I've removed {name} from your selection.",
        "J'ai retiré {name} de votre sélection.",
    ),
    "view_product": ("Here is {name}, {price} for {unit}.", "Voici {name}, {price} pour {unit}."),
    "error": ("Sorry, I couldn't do that: {reason}", "Désolé, je n'ai pas pu le faire : {reason}"),
}


def money(amount: float, language: str) -> str:
    text = f"{amount:.2f}"
    return f"{text.replace('.', ',')} euros" if language == "fr" else f"{text} euros"


def _action(event: dict[str, Any]) -> str:
    f = _fields(event)
    action = str(f.get("action") or f.get("name") or "").strip().lower()
    return _SYNONYMS.get(action, action)


def is_shop_action(session: Any, event: dict[str, Any]) -> bool:
    """A shop click, or any click on an agent that has the shop (it answers unknown ones)."""
    if _action(event) in ACTIONS:
        return True
    return shop_of(getattr(session.current_agent, "tools", [])) is not None


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    inner = event.get("data") or event.get("payload") or {}
    return {**event, **inner} if isinstance(inner, dict) else dict(event)


async def handle_client_action(session: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Apply a client action to ``session`` and have the agent acknowledge it.

    Returns ``{"ok": bool, "action": ..., "message": what the agent said}``; never raises
    for a bad event (an unknown product or action is answered, not thrown)."""
    from .browse import BrowseTools
    from .buckets import BucketTools

    f = _fields(event)
    action = _action(event)
    data: SessionData = session.userdata
    lang = data.language
    agent = session.current_agent
    shop = shop_of(getattr(agent, "tools", []))
    ok, values = True, {}
    try:
        if shop is None:
            raise ToolError(json.dumps({"message": "this agent has no shop tools"}))
        if action not in ACTIONS:
            raise ToolError(json.dumps({"message": f"unknown action {action!r}"}))
        buckets = BucketTools(shop)
        ref = str(f.get("product_id") or f.get("product") or "")
        qty = f.get("quantity", 1)
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise ToolError(
                json.dumps({"message": f"quantity must be a whole number, got {qty!r}"})
            )
        if action == "clear_cart":
            data.state.setdefault("cart", {}).clear()
            buckets.cart_out(data, "clear")
        elif action == "add_to_cart":
            p = buckets.add_to_cart(data, ref, qty)
            buckets.cart_out(data, "add", p)
        elif action in ("remove_from_cart", "update_quantity"):
            p = buckets.product(ref, lang)
            cart = data.state.setdefault("cart", {})
            if p.id not in cart:
                raise ToolError(json.dumps({"message": f"{p.name.get(lang)} is not in the cart"}))
            if action == "remove_from_cart":
                del cart[p.id]
            else:
                buckets._check_quantity(p, qty, lang)
                cart[p.id] = qty
            buckets.cart_out(data, "remove" if action == "remove_from_cart" else "update", p)
        elif action in ("add_to_selection", "remove_from_selection"):
            p = buckets.product(ref, lang)
            sel = data.state.setdefault("selection", [])
            if action == "add_to_selection" and p.id not in sel:
                sel.append(p.id)
            elif action == "remove_from_selection" and p.id in sel:
                sel.remove(p.id)
            buckets._selection_out(data, "add" if action == "add_to_selection" else "remove")
        else:  # view_product
            p = BrowseTools(shop).product(ref, lang)
            data.events.emit(
                "product_cards", products=[shop.catalogue.sheet(p, lang)], context="detail"
            )
        if action != "clear_cart":
            data.state["last_products"] = [p.id]
            cart_now = data.state.get("cart", {})
            total = sum(
                shop.catalogue.products[i].price * q
                for i, q in cart_now.items()
                if i in shop.catalogue.products
            )
            values = {
                "name": p.name.get(lang),
                "qty": cart_now.get(p.id, qty),
                "unit": p.unit,
                "price": money(p.price, lang),
                "total": money(total, lang),
            }
    except ToolError as e:
        ok = False
        try:
            reason = json.loads(e.message).get("message", e.message)
        except (ValueError, AttributeError):
            reason = e.message
        values = {"reason": reason}
    template = _SAY["error" if not ok else action][1 if lang == "fr" else 0]
    text = template.format(**values)
    speak = getattr(agent, "speak", None)
    if callable(speak):
        speak(text)
    else:
        session.say(text)
    data.events.emit("status_update", status="client_action", action=action, ok=ok)
    return {"ok": ok, "action": action, "message": text}
