"""The ``shop`` skill: the offline brain of the shop assistant.

It matches intents with keyword rules (:mod:`.words`), fills slots against the catalogue
(:mod:`.nlu`: fuzzy product names; "it" and "the second one" refer to what was shown
last), asks for tools through the normal function-calling path, and phrases their results
(:mod:`.say`). It reads the catalogue from the shop tools' resources (``Turn.resources``) and
earlier tool results from the chat history, so it keeps no per-session state and one
instance serves every session.
"""

from __future__ import annotations

import re

from ....providers.local.scripted.brain import Reply, Response, ToolRequest, ToolResult, Turn, pick
from ....tools.textnorm import singular, terms
from ..catalogue import Catalogue, Product
from . import words as W
from .memory import memory_request, recall, welcome_back
from .nlu import (
    NUMBER_WORDS,
    REFERENCES,
    SEARCH_WORDS,
    cart_ids,
    has,
    last_shown,
    ordinal,
    products_named,
    quantity,
    refers_back,
    search_slots,
    segments,
)
from .say import PHRASES, listing, many_adds, say

CAN_DO_EN = (
    "I can find products, show their details and producers, compare them, answer questions "
    "about delivery, returns and storage, fill your cart and place your order."
)
CAN_DO_FR = (
    "Je peux trouver des produits, présenter leurs détails et producteurs, les comparer, "
    "répondre sur la livraison, les retours et la conservation, remplir votre panier et "
    "passer votre commande."
)
SHOP_TOOLS = frozenset({"search_products", "display_product", "cart_add", "ask_knowledge_base"})


def _ask_which(products: list[Product], lang: str) -> Reply:
    names = listing([p.name.get(lang) for p in products[:4]], lang)
    return Reply(
        pick(
            lang,
            f"Which one do you mean: {names.replace(' and ', ' or ')}?",
            f"Lequel voulez-vous dire : {names.replace(' et ', ' ou ')} ?",
        )
    )


def _words(*groups: tuple[str, ...]) -> frozenset[str]:
    return frozenset(singular(w) for group in groups for phrase in group for w in phrase.split())


_INTENT_WORDS = (
    _words(W.ADD, W.REMOVE, W.CHANGE, W.CART, W.SELECTION, W.COMPARE, W.TABLE, W.HIGHLIGHT)
    | _words(W.PRODUCER, W.DISPLAY, W.SEARCH, W.ABOUT_IT, REFERENCES)
    | SEARCH_WORDS
    | NUMBER_WORDS
)


def _only_refers(text: str) -> bool:
    """'Is it organic?' refers back; 'the capital of Peru' (French 'la') does not."""
    rest = [
        w for w in terms(text) if w not in _INTENT_WORDS and not w.isdigit() and ordinal(w) is None
    ]
    return not rest


class ShopSkill:
    name = "shop"

    def __init__(self, agent_name: str = "Causerie") -> None:
        self.agent_name = agent_name

    def respond(self, turn: Turn) -> Response | None:
        if not (SHOP_TOOLS & turn.tools) or not turn.words:
            return None
        text, cat = turn.user_text, turn.resources.get("catalogue")
        if has(text, *W.RECALL):
            return Reply(recall(turn))
        memory = memory_request(text)
        if memory is not None:
            # "I'm allergic to nuts: which biscuits do you have?" remembers, then searches.
            rest: list[ToolRequest] = []
            for part in re.split(r"[.!?;:]\s*", text):
                if part and memory_request(part) is None:
                    found = self._intent(turn, part, cat)
                    rest += found if isinstance(found, list) else []
            return [memory, *rest]
        resp = self._intent(turn, text, cat)
        if resp is None and has(text, *W.GREETING) and (hello := welcome_back(turn)):
            return Reply(hello)
        return resp

    def _intent(self, turn: Turn, text: str, cat: Catalogue | None) -> Response | None:
        lang = turn.language
        named, ambiguous = products_named(text, cat) if cat else ([], [])
        if has(text, *W.ORDER):
            return [ToolRequest("place_order", {})]
        if has(text, *W.KB_TOPICS) and not has(text, *W.ADD, *W.COMPARE):
            return [ToolRequest("ask_knowledge_base", {"question": text})]
        if has(text, *W.FINISH) and not named:
            return [ToolRequest("finish_conversation", {"reason": "user is done"})]
        if cat and has(text, *W.CATALOGUE_QUESTION) and not search_slots(text, cat).any():
            return Reply(self._catalogue_overview(cat, lang))
        if has(text, *W.CAPABILITIES):
            return Reply(pick(lang, CAN_DO_EN, CAN_DO_FR))
        if cat and has(text, *W.PRODUCERS) and not named and not cat.lexicon.producers_in(text):
            return Reply(self._producers_overview(cat, text, lang))
        action = has(text, *W.ADD, *W.REMOVE, *W.CHANGE, *W.DISPLAY, *W.PRODUCER)
        if ambiguous and not named and action and not has(text, *W.SEARCH):
            return _ask_which(ambiguous, lang)
        targets = named
        if not targets and cat is not None and has(text, *W.REMOVE, *W.CHANGE):
            targets = self._in_cart(turn, text, cat)  # "remove the honey": the honey in the cart
        if not targets and _only_refers(text):
            # "it", "the second one"; not the article in "la capitale"
            targets = self._referred(turn, text, cat)
        return self._cart_and_selection(turn, text, targets) or self._browse(
            turn, text, cat, targets
        )

    def _cart_and_selection(self, turn: Turn, text: str, targets: list[Product]) -> Response | None:
        if has(text, *W.SELECTION):
            return self._selection(text, targets)
        if has(text, *W.CART) and has(text, *W.CART_CLEAR) and not has(text, *W.ADD):
            return [ToolRequest("cart_clear", {})]
        if (has(text, *W.CART) and not has(text, *W.ADD, *W.REMOVE, *W.CHANGE)) or has(
            text, *W.CART_LIST
        ):
            return [ToolRequest("cart_list", {})]
        if has(text, *W.TABLE, *W.COMPARE):
            return None
        qty = quantity(text, targets[0] if targets else None)
        if has(text, *W.CHANGE) and qty is not None and targets:
            return [
                ToolRequest("cart_update_quantity", {"product": targets[0].id, "quantity": qty})
            ]
        if has(text, *W.REMOVE) and targets:
            return [ToolRequest("cart_remove", {"product": p.id}) for p in targets]
        if has(text, *W.ADD) and (targets or has(text, *W.CART)):
            return self._add(text, targets, turn)
        return None

    def _browse(
        self, turn: Turn, text: str, cat: Catalogue | None, targets: list[Product]
    ) -> Response | None:
        lang = turn.language
        if has(text, *W.TABLE):
            criteria = [
                k for k, words in W.CRITERIA.items() if has(text, *words)
            ] or W.DEFAULT_CRITERIA
            ids = [p.id for p in (targets if len(targets) > 1 else self._shown(turn, cat, 4))]
            return [ToolRequest("generate_benchmark", {"criteria": criteria, "products": ids})]
        if has(text, *W.COMPARE):
            ids = [p.id for p in (targets if len(targets) > 1 else self._shown(turn, cat, 3))]
            return [ToolRequest("compare_products", {"products": ids})]
        if has(text, *W.HIGHLIGHT) and (picks := targets or self._shown(turn, cat, 1)):
            reason = (
                pick(lang, "best value", "meilleur rapport qualité-prix")
                if has(text, *W.VALUE)
                else pick(lang, "our recommendation", "notre recommandation")
            )
            return [
                ToolRequest("highlight_products", {"products": [picks[0].id], "reason": reason})
            ]
        producers = cat.lexicon.producers_in(text) if cat else []
        if has(text, *W.PRODUCER) or (
            producers and has(text, *W.DISPLAY) and not search_slots(text, cat).category
        ):
            if producers or targets:
                return [
                    ToolRequest(
                        "producer_info", {"producer": producers[0] if producers else targets[0].id}
                    )
                ]
        if targets:
            return [ToolRequest("display_product", {"product": targets[0].id})]
        slots = search_slots(text, cat)
        wants = slots.category or slots.producer or slots.attributes or has(text, *W.SEARCH)
        if slots.any() and (wants or slots.max_price is not None or slots.min_price is not None):
            return [ToolRequest("search_products", slots.arguments())]
        if has(text, *W.SMALLTALK) or not terms(text):
            return None  # "who are you?", "what time is it?": the smalltalk skill's
        if text.strip().endswith("?") or has(text, *W.QUESTION):
            return [ToolRequest("ask_knowledge_base", {"question": text})]
        return None

    # -- slots ---------------------------------------------------------------------------

    def _referred(self, turn: Turn, text: str, cat: Catalogue | None) -> list[Product]:
        if cat is None or not (refers_back(text) or has(text, *W.CHEAPEST)):
            return []
        shown = [p for pid in last_shown(turn.past_tools) if (p := cat.get(pid))]
        n = ordinal(text)
        if not shown:
            return []
        if n is not None:
            return [shown[n]] if -len(shown) <= n < len(shown) else []
        if has(text, *W.CHEAPEST):
            return [min(shown, key=lambda p: p.price)]
        return shown if has(text, *W.ALL_OF_THEM) else shown[:1]

    def _in_cart(self, turn: Turn, text: str, cat: Catalogue) -> list[Product]:
        ids = next(
            (
                cart_ids(r)
                for r in reversed(turn.past_tools)
                if (r.name.startswith("cart_") or r.name == "place_order") and not r.is_error
            ),
            [],
        )
        words = set(cat.lexicon.words(text))
        hits = [
            cat.products[i]
            for i in ids
            if i in cat.products
            and words & {w for n in cat.products[i].name.all() for w in cat.lexicon.words(n)}
        ]
        return hits if len(hits) == 1 else []

    def _shown(self, turn: Turn, cat: Catalogue | None, n: int) -> list[Product]:
        if cat is None:
            return []
        return [p for pid in last_shown(turn.past_tools)[:n] if (p := cat.get(pid))]

    def _add(self, text: str, targets: list[Product], turn: Turn) -> Response:
        cat: Catalogue | None = turn.resources.get("catalogue")
        if cat is not None and len(targets) > 1 and not has(text, *W.ALL_OF_THEM):
            reqs = [
                ToolRequest(
                    "cart_add", {"product": found[0].id, "quantity": quantity(seg, found[0]) or 1}
                )
                for seg in segments(text)
                if (found := products_named(seg, cat)[0])
            ]
            if reqs:
                return reqs
        if not targets:
            what = search_slots(text, cat).query
            if what:  # let the tool say it does not sell this
                return [ToolRequest("cart_add", {"product": what, "quantity": quantity(text) or 1})]
            return Reply(
                pick(
                    turn.language,
                    "Which product would you like to add?",
                    "Quel produit voulez-vous ajouter ?",
                )
            )
        qty = quantity(text, targets[0])
        return [
            ToolRequest("cart_add", {"product": p.id, "quantity": 1 if qty is None else qty})
            for p in targets
        ]

    def _selection(self, text: str, targets: list[Product]) -> list[ToolRequest]:
        if has(text, *W.CART_CLEAR):
            return [ToolRequest("selection_clear", {})]
        ids = [p.id for p in targets]
        if ids and has(text, *W.REMOVE):
            return [ToolRequest("selection_remove", {"products": ids})]
        return (
            [ToolRequest("selection_add", {"products": ids})]
            if ids
            else [ToolRequest("selection_list", {})]
        )

    def _producers_overview(self, cat: Catalogue, text: str, lang: str) -> str:
        category = search_slots(text, cat).category
        makers = {p.producer for p in cat.products.values() if category in (None, p.category)}
        who = listing(
            [
                f"{p.name} ({p.region})" if p.region else p.name
                for p in cat.producers.values()
                if p.id in makers
            ],
            lang,
        )
        return pick(lang, f"Our producers: {who}.", f"Nos producteurs : {who}.")

    def _catalogue_overview(self, cat: Catalogue, lang: str) -> str:
        labels = listing(sorted({cat.category_label(c, lang) for c in cat.categories}), lang)
        n = len(cat.producers)
        return pick(
            lang,
            f"We sell {labels}, from {n} local producers. What would you like?",
            f"Nous vendons {labels}, de {n} producteurs locaux. Que désirez-vous ?",
        )

    # -- results -------------------------------------------------------------------------

    def after_tools(self, turn: Turn) -> Reply | None:
        mine = [r for r in turn.tool_results if r.name in PHRASES]
        if not mine:
            return None
        adds: list[ToolResult] = [r for r in mine if r.name == "cart_add" and not r.is_error]
        parts = [many_adds(adds, turn)] if len(adds) > 1 else []
        for r in mine:
            if len(adds) > 1 and r in adds:
                continue
            if text := say(r, turn):
                parts.append(text)
        return Reply(" ".join(parts)) if parts else None
