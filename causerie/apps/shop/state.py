"""Per-session buckets kept in ``SessionData.state`` as plain JSON-able values, so a
transport can serialize them and a test can read them:

* ``state["cart"]``: ``{product_id: quantity}`` in the order products were added;
* ``state["selection"]``: product ids the user set aside;
* ``state["memory"]``: ``{"name", "preferences", "allergies"}`` told during the session;
* ``state["last_products"]``: ids the agent showed last ("it", "that one").
"""

from __future__ import annotations

from typing import Any

from ...tools.textnorm import normalize
from ...userdata import SessionData
from .catalogue import Catalogue


def cart(data: SessionData) -> dict[str, int]:
    c: dict[str, int] = data.state.setdefault("cart", {})
    return c


def selection(data: SessionData) -> list[str]:
    s: list[str] = data.state.setdefault("selection", [])
    return s


def memory(data: SessionData) -> dict[str, Any]:
    m: dict[str, Any] = data.state.setdefault("memory", {})
    return m


def remember_shown(data: SessionData, ids: list[str]) -> None:
    if ids:
        data.state["last_products"] = list(ids)


def cart_summary(catalogue: Catalogue, items: dict[str, int], language: str) -> dict[str, Any]:
    """Lines with totals, as shown to the user and told to the LLM."""
    lines = []
    total = 0.0
    for pid, qty in items.items():
        p = catalogue.get(pid)
        if p is None:
            continue  # the catalogue changed under the session; the order step reports it
        line_total = round(p.price * qty, 2)
        total += line_total
        lines.append(
            {
                "product_id": pid,
                "name": p.name.get(language),
                "unit": p.unit,
                "unit_price": p.price,
                "quantity": qty,
                "line_total": line_total,
            }
        )
    return {
        "items": lines,
        "item_count": sum(ln["quantity"] for ln in lines),
        "total": round(total, 2),
        "currency": catalogue.currency,
    }


# What users say -> the allergen names product sheets use.
ALLERGEN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "nuts": (
        "nut",
        "nuts",
        "walnut",
        "walnuts",
        "hazelnut",
        "noix",
        "noisette",
        "fruits a coque",
        "fruit a coque",
    ),
    "milk": ("milk", "dairy", "lactose", "lait", "laitier", "produits laitiers"),
    "gluten": ("gluten", "wheat", "ble"),
    "eggs": ("egg", "eggs", "oeuf", "oeufs"),
    "sulphites": ("sulphite", "sulphites", "sulfite", "sulfites"),
}


def canonical_allergen(word: str) -> str:
    w = normalize(word)
    for name, synonyms in ALLERGEN_SYNONYMS.items():
        if w == name or w in synonyms:
            return name
    return w


def user_allergies(data: SessionData) -> set[str]:
    return {canonical_allergen(a) for a in memory(data).get("allergies", []) if isinstance(a, str)}
