"""What the shop skill says about the cart, the selection, memory, orders and errors."""

from __future__ import annotations

from typing import Any

from ....providers.local.scripted.brain import Turn, pick


def money(amount: float, lang: str) -> str:
    text = f"{amount:.2f}"
    return f"{text.replace('.', ',')} euros" if lang == "fr" else f"{text} euros"


def listing(items: list[str], lang: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {pick(lang, 'and', 'et')} {items[-1]}"


def cart(out: dict[str, Any], turn: Turn) -> str:
    lang, items, action = turn.language, out.get("items", []), out.get("action")
    total = money(out.get("total", 0.0), lang)
    if not items:
        return (
            pick(lang, "Your cart is now empty.", "Votre panier est maintenant vide.")
            if action != "list"
            else pick(lang, "Your cart is empty.", "Votre panier est vide.")
        )
    line = {i["product_id"]: i for i in items}.get(out.get("product_id", ""))
    name, qty = (line["name"], line["quantity"]) if line else ("", 0)
    if action == "add" and line:
        return pick(
            lang,
            f"I've added {name} to your cart; you have {qty}. Your total is {total}.",
            f"J'ai ajouté {name} au panier ; vous en avez {qty}. Le total est de {total}.",
        )
    if action == "update" and line:
        return pick(
            lang,
            f"Done: {qty} × {name}. Your total is now {total}.",
            f"C'est fait : {qty} × {name}. Le total est maintenant de {total}.",
        )
    if action == "remove":
        return pick(
            lang,
            f"I've removed it from your cart. Your total is {total}.",
            f"Je l'ai retiré du panier. Le total est de {total}.",
        )
    lines = [f"{i['quantity']} × {i['name']} ({money(i['line_total'], lang)})" for i in items]
    return pick(
        lang,
        f"Your cart: {listing(lines, lang)}. Total: {total}.",
        f"Votre panier : {listing(lines, lang)}. Total : {total}.",
    )


def selection(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    names = [c["name"] for c in out.get("selection", [])]
    if not names:
        return pick(lang, "Your selection is empty.", "Votre sélection est vide.")
    return pick(
        lang,
        f"Your selection: {listing(names, lang)}.",
        f"Votre sélection : {listing(names, lang)}.",
    )


def memory(out: dict[str, Any], turn: Turn) -> str:
    lang, mem = turn.language, out.get("memory", {})
    parts = []
    if mem.get("name"):
        parts.append(pick(lang, f"Nice to meet you, {mem['name']}!", f"Enchanté, {mem['name']} !"))
    if mem.get("allergies"):
        al = listing(mem["allergies"], lang)
        parts.append(
            pick(
                lang,
                f"Noted, allergies: {al}. I'll warn you about products that contain them.",
                f"C'est noté, allergies : {al}. Je vous préviendrai pour les produits concernés.",
            )
        )
    if mem.get("preferences") and not parts:
        parts.append(
            pick(
                lang,
                f"Noted: you like {listing(mem['preferences'], lang)}.",
                f"C'est noté : vous aimez {listing(mem['preferences'], lang)}.",
            )
        )
    return " ".join(parts) or pick(lang, "Noted.", "C'est noté.")


def order(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    return pick(
        lang,
        f"Your order is placed! Your order number is {out['order_id']}, for a total of "
        f"{money(out['total'], lang)}. Thank you!",
        f"Votre commande est passée ! Son numéro est {out['order_id']}, pour un total de "
        f"{money(out['total'], lang)}. Merci !",
    )


def finish(out: dict[str, Any], turn: Turn) -> str:
    lang = turn.language
    left = out.get("cart_left_with_items", 0)
    text = pick(lang, "Thank you for your visit, goodbye!", "Merci de votre visite, au revoir !")
    if left:
        text = (
            pick(
                lang,
                f"Your cart still holds {left} item(s) if you come back. ",
                f"Votre panier garde {left} article(s) si vous revenez. ",
            )
            + text
        )
    return text


def error(out: dict[str, Any], turn: Turn) -> str:
    lang, code = turn.language, out.get("error", "")
    if code == "unknown_product":
        text = pick(
            lang,
            f"Sorry, I couldn't find “{out.get('query', '')}” in our catalogue.",
            f"Désolé, je ne trouve pas « {out.get('query', '')} » dans notre catalogue.",
        )
        sugg = [s["name"] for s in out.get("suggestions", [])]
        if sugg:
            text += " " + pick(
                lang,
                f"Did you mean {listing(sugg, lang)}?",
                f"Vouliez-vous dire {listing(sugg, lang)} ?",
            )
        return text
    if code == "ambiguous_product":
        names = [c["name"] for c in out.get("candidates", [])]
        return pick(
            lang,
            f"Which one do you mean: {listing(names, lang).replace(' and ', ' or ')}?",
            f"Lequel voulez-vous dire : {listing(names, lang).replace(' et ', ' ou ')} ?",
        )
    table_: dict[str, tuple[str, str]] = {
        "invalid_quantity": (
            "The quantity must be at least 1. To take a product out, just ask me to remove it.",
            "La quantité doit être d'au moins 1. Pour retirer un produit, demandez-le-moi.",
        ),
        "quantity_too_large": (
            f"That's too many: at most {out.get('max_quantity')} of each product per order.",
            f"C'est trop : au maximum {out.get('max_quantity')} par produit et par commande.",
        ),
        "out_of_stock": (
            "Sorry, that product is out of stock.",
            "Désolé, ce produit est en rupture de stock.",
        ),
        "insufficient_stock": (
            f"Sorry, only {out.get('stock')} left in stock.",
            f"Désolé, il n'en reste que {out.get('stock')}.",
        ),
        "empty_cart": (
            "Your cart is empty, so there's nothing to order yet. Shall I help you find something?",
            "Votre panier est vide, rien à commander. Puis-je vous aider à trouver un produit ?",
        ),
        "not_in_cart": (
            "That product isn't in your cart.",
            "Ce produit n'est pas dans votre panier.",
        ),
        "not_in_selection": (
            "That product isn't in your selection.",
            "Ce produit n'est pas dans votre sélection.",
        ),
        "need_two_products": (
            "I need at least two products to compare. Which ones?",
            "Il me faut au moins deux produits à comparer. Lesquels ?",
        ),
        "cart_invalid": (
            "Some products in your cart can no longer be ordered; let's fix the cart first.",
            "Certains produits ne peuvent plus être commandés ; corrigeons d'abord le panier.",
        ),
    }
    en, fr = table_.get(
        code,
        (
            "Sorry, something went wrong on my side. Could you try again?",
            "Désolé, quelque chose n'a pas marché de mon côté. Pouvez-vous réessayer ?",
        ),
    )
    return pick(lang, en, fr)
