"""What the shop skill says about tool results, in English or French (templates only).

Products, comparisons and the knowledge base here; cart, orders and errors in
:mod:`.say_cart`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ....providers.local.scripted.brain import ToolResult, Turn, normalize, pick
from .say_cart import cart, error, finish, listing, memory, money, order, selection


def _first_sentences(text: str, n: int = 2) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(parts[:n])


def _load(result: ToolResult) -> dict[str, Any]:
    try:
        out = json.loads(result.output)
    except ValueError:
        return {"message": result.output}
    return out if isinstance(out, dict) else {"value": out}


def _card(c: dict[str, Any], lang: str) -> str:
    return f"{c['name']} ({money(c['price'], lang)})"


def _allergy_note(cards: list[dict[str, Any]], lang: str) -> str:
    risky = [
        f"{c['name']} ({', '.join(c['contains_your_allergens'])})"
        for c in cards
        if c.get("contains_your_allergens")
    ]
    if not risky:
        return ""
    return " " + pick(
        lang,
        f"Careful, given your allergies: {listing(risky, lang)}.",
        f"Attention, vu vos allergies : {listing(risky, lang)}.",
    )


def search(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    cards = out.get("products", [])
    if not cards:
        text = pick(
            lang,
            "I couldn't find anything matching that in our shop.",
            "Je n'ai rien trouvé de tel dans notre boutique.",
        )
        if out.get("known_categories"):
            text += (
                " "
                + pick(lang, "We sell: ", "Nous vendons : ")
                + ", ".join(out["known_categories"])
                + "."
            )
        return text
    names = listing([_card(c, lang) for c in cards], lang)
    total, shown = out.get("total", len(cards)), len(cards)
    if total > shown:
        head = pick(
            lang,
            f"I found {total} products; here are the first {shown}: ",
            f"J'ai trouvé {total} produits ; voici les {shown} premiers : ",
        )
    elif shown == 1:
        head = pick(lang, "I found one product: ", "J'ai trouvé un produit : ")
    else:
        head = pick(lang, f"I found {shown} products: ", f"J'ai trouvé {shown} produits : ")
    tail = pick(
        lang, " Would you like details on one of them?", " Voulez-vous des détails sur l'un d'eux ?"
    )
    return head + names + "." + _allergy_note(cards, lang) + tail


def sheet(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    name, attrs = out["name"], out.get("attributes", {})
    asked = turn.user_text
    if _asks(asked, "organic", "bio"):
        yes = bool(attrs.get("organic"))
        return pick(
            lang,
            f"{name} is {'' if yes else 'not '}organic.",
            f"{name} est bio." if yes else f"{name} n'est pas bio.",
        )
    if _asks(
        asked, "allergen", "allergens", "allergy", "contain", "contains", "allergene", "allergenes"
    ):
        al = out.get("allergens") or []
        return pick(
            lang,
            f"{name} contains: {', '.join(al)}." if al else f"{name} has no listed allergens.",
            f"{name} contient : {', '.join(al)}."
            if al
            else f"{name} ne contient aucun allergène déclaré.",
        )
    if _asks(asked, "stock", "available", "disponible"):
        ok = out.get("in_stock")
        return pick(
            lang,
            f"{name} is {'in stock' if ok else 'out of stock'}.",
            f"{name} est {'en stock' if ok else 'en rupture de stock'}.",
        )
    text = pick(
        lang,
        f"{name}, from {out['producer']}: {money(out['price'], lang)} for {out['unit']}. ",
        f"{name}, de {out['producer']} : {money(out['price'], lang)} pour {out['unit']}. ",
    )
    text += out.get("description", "")
    if out.get("contains_your_allergens"):
        text += " " + pick(
            lang,
            f"Careful: it contains {', '.join(out['contains_your_allergens'])}.",
            f"Attention : il contient {', '.join(out['contains_your_allergens'])}.",
        )
    if not out.get("in_stock", True):
        return (
            text + " " + pick(lang, "It is out of stock right now.", "Il est en rupture de stock.")
        )
    return (
        text + " " + pick(lang, "Shall I add it to your cart?", "Voulez-vous l'ajouter au panier ?")
    )


def _asks(text: str, *words: str) -> bool:
    t = f" {normalize(text)} "
    return any(f" {w} " in t for w in words)


def producer(out: dict[str, Any], turn: Turn) -> str:
    lang, p = turn.language, out["producer"]
    names = [x["name"] for x in out.get("products", [])][:3]
    where = pick(lang, f" in {p['region']}", f" en {p['region']}") if p.get("region") else ""
    text = f"{p['name']}{where}. {_first_sentences(p.get('description', ''))}"
    if names:
        text += " " + pick(
            lang,
            f"Their products include {listing(names, lang)}.",
            f"Parmi leurs produits : {listing(names, lang)}.",
        )
    return text.strip()


def table(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    names = [p["name"] for p in out.get("products", [])]
    rows = {r["criterion"]: r for r in out.get("rows", [])}
    text = pick(
        lang,
        f"Here is the comparison of {listing(names, lang)} on your screen.",
        f"Voici la comparaison de {listing(names, lang)} sur votre écran.",
    )
    price = rows.get("price")
    if price:
        prices = [f"{n} {money(v, lang)}" for n, v in zip(names, price["values"], strict=False)]
        text += " " + pick(
            lang,
            f"Prices: {listing(prices, lang)}; the cheapest is {names[price['best']]}.",
            f"Prix : {listing(prices, lang)} ; le moins cher est {names[price['best']]}.",
        )
    org = rows.get("organic")
    if org:
        bio = [n for n, v in zip(names, org["values"], strict=False) if v]
        if bio and len(bio) < len(names):
            text += " " + pick(
                lang,
                f"Only {listing(bio, lang)} is organic.",
                f"Seul {listing(bio, lang)} est bio.",
            )
    return text


def knowledge(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    if not out.get("found"):
        return pick(
            lang,
            "I'm sorry, I don't know. I couldn't find that in our shop's information, "
            "and I'd rather not guess.",
            "Je suis désolé, je ne sais pas. Je n'ai rien trouvé à ce sujet dans nos informations, "
            "et je préfère ne pas inventer.",
        )
    src = out.get("source", {})
    where = f"{src.get('title', '')}, {src.get('section', '')}".strip(", ")
    return (
        f"{_first_sentences(out.get('answer', ''))} ({pick(lang, 'Source:', 'Source :')} {where}.)"
    )


def highlight(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    names = [c["name"] for c in out.get("highlighted", [])]
    reason = out.get("reason") or pick(lang, "my pick", "mon choix")
    return pick(
        lang,
        f"I'd go for {listing(names, lang)} ({reason}); it's highlighted on your screen.",
        f"Je vous conseille {listing(names, lang)} ({reason}) ; il est mis en avant à l'écran.",
    )


def many_adds(adds: list[ToolResult], turn: Turn) -> str:
    """One sentence for several products added at once."""
    lang = turn.language
    outs = [_load(a) for a in adds]
    lines = {i["product_id"]: i for i in outs[-1].get("items", [])}
    names = [
        f"{lines[o['product_id']]['quantity']} × {lines[o['product_id']]['name']}"
        for o in outs
        if o.get("product_id") in lines
    ]
    total = money(outs[-1].get("total", 0.0), lang)
    return pick(
        lang,
        f"I've added {listing(names, lang)} to your cart. Your total is {total}.",
        f"J'ai ajouté {listing(names, lang)} au panier. Le total est de {total}.",
    )


PHRASES: dict[str, Callable[[dict[str, Any], Turn], str]] = {
    "search_products": search,
    "display_product": sheet,
    "producer_info": producer,
    "compare_products": table,
    "generate_benchmark": table,
    "highlight_products": highlight,
    "ask_knowledge_base": knowledge,
    "session_memory_update": memory,
    "place_order": order,
    "finish_conversation": finish,
    "cart_add": cart,
    "cart_remove": cart,
    "cart_update_quantity": cart,
    "cart_list": cart,
    "cart_clear": cart,
    "selection_add": selection,
    "selection_remove": selection,
    "selection_list": selection,
    "selection_clear": selection,
}


def say(result: ToolResult, turn: Turn) -> str | None:
    phrase = PHRASES.get(result.name)
    if phrase is None:
        return None
    out = _load(result)
    if result.is_error:
        return error(out, turn)
    try:
        return phrase(out, turn)
    except (KeyError, TypeError, IndexError, ValueError):
        # An output this template does not know (another tool set): say it as data.
        return None
