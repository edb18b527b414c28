"""The scripted shop skill: intents and slots in English and French, references to what
was shown, phrasing of tool results. Pure decisions: no session needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from causerie.apps.shop.options import ShopOptions
from causerie.apps.shop.shop import load_shop
from causerie.apps.shop.skill.skill import ShopSkill
from causerie.providers.local.scripted.brain import Reply, ToolRequest, ToolResult, Turn
from causerie.providers.local.scripted.llm import ScriptedLLM, load_skill
from causerie.providers.local.scripted.smalltalk import SmallTalk
from causerie.tools.registry import ALL_TOOLS

CAT = load_shop(ShopOptions()).catalogue
SKILL = ShopSkill()


def turn(text: str, lang: str = "en", past: list[ToolResult] | None = None, **kw: Any) -> Turn:
    return Turn(
        user_text=text,
        language=lang,
        tools=frozenset(ALL_TOOLS),
        resources={"catalogue": CAT},
        past_tools=past or [],
        **kw,
    )


def calls(
    text: str, lang: str = "en", past: list[ToolResult] | None = None
) -> list[tuple[str, dict]]:
    resp = SKILL.respond(turn(text, lang, past))
    assert isinstance(resp, list), resp
    return [(c.name, dict(c.arguments)) for c in resp]


def shown(name: str, output: dict[str, Any]) -> ToolResult:
    return ToolResult(name, "{}", json.dumps(output), False)


SEARCH = shown(
    "search_products", {"products": [{"id": "comte-18-mois"}, {"id": "tomme-de-savoie"}]}
)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        (
            "do you have cheese under 9 euros?",
            "en",
            [("search_products", {"category": "cheese", "max_price": 9.0})],
        ),
        (
            "avez-vous du miel bio ?",
            "fr",
            [("search_products", {"category": "honey", "attributes": ["organic"]})],
        ),
        (
            "show me organic red wine",
            "en",
            [("search_products", {"category": "wine", "attributes": ["organic", "colour=red"]})],
        ),
        (
            "anything between 5 and 7 euros from the Verger des Collines?",
            "en",
            [
                (
                    "search_products",
                    {"producer": "Verger des Collines", "min_price": 5.0, "max_price": 7.0},
                )
            ],
        ),
        (
            "tell me about the farmhouse reblochon",
            "en",
            [("display_product", {"product": "reblochon-fermier"})],
        ),
        (
            "add two comté and a lavender honey to my cart",
            "en",
            [
                ("cart_add", {"product": "comte-18-mois", "quantity": 2}),
                ("cart_add", {"product": "miel-lavande", "quantity": 1}),
            ],
        ),
        (
            "ajoute trois saucissons secs au panier",
            "fr",
            [("cart_add", {"product": "saucisson-sec", "quantity": 3})],
        ),
        (
            "compare the comté and the summer beaufort",
            "en",
            [("compare_products", {"products": ["comte-18-mois", "beaufort-ete"]})],
        ),
        (
            "how long does delivery take?",
            "en",
            [("ask_knowledge_base", {"question": "how long does delivery take?"})],
        ),
        ("what's in my cart", "en", [("cart_list", {})]),
        ("vide mon panier", "fr", [("cart_clear", {})]),
        ("place the order", "en", [("place_order", {})]),
        ("c'est tout, au revoir", "fr", [("finish_conversation", {"reason": "user is done"})]),
        (
            "my name is Léa and I'm allergic to nuts",
            "en",
            [("session_memory_update", {"name": "Léa", "allergies": ["nuts"]})],
        ),
        (
            "put the acacia honey in my selection",
            "en",
            [("selection_add", {"products": ["miel-acacia"]})],
        ),
        (
            "who is the Rucher du Vercors?",
            "en",
            [("producer_info", {"producer": "rucher-du-vercors"})],
        ),
    ],
)
def test_intents_and_slots(text: str, lang: str, expected: list[tuple[str, dict]]) -> None:
    assert calls(text, lang) == expected


def test_references_to_what_was_shown() -> None:
    assert calls("tell me more about the second one", past=[SEARCH]) == [
        ("display_product", {"product": "tomme-de-savoie"})
    ]
    assert calls("add it to my cart", past=[shown("display_product", {"id": "miel-acacia"})]) == [
        ("cart_add", {"product": "miel-acacia", "quantity": 1})
    ]
    assert calls("who makes it?", past=[shown("display_product", {"id": "syrah-reserve"})]) == [
        ("producer_info", {"producer": "syrah-reserve"})
    ]
    assert calls("add the cheapest one", past=[SEARCH]) == [
        ("cart_add", {"product": "tomme-de-savoie", "quantity": 1})
    ]
    assert calls("compare them", past=[SEARCH]) == [
        ("compare_products", {"products": ["comte-18-mois", "tomme-de-savoie"]})
    ]
    # "la" is an article here, not "it": no reference to the comté.
    assert (
        calls("Quelle est la capitale du Pérou ?", "fr", past=[SEARCH])[0][0]
        == "ask_knowledge_base"
    )


def test_cart_lines_are_found_by_a_word() -> None:
    cart = shown(
        "cart_add",
        {
            "product_id": "miel-lavande",
            "items": [{"product_id": "comte-18-mois"}, {"product_id": "miel-lavande"}],
        },
    )
    assert calls("remove the honey", past=[cart]) == [("cart_remove", {"product": "miel-lavande"})]
    assert calls("make the comté 4", past=[cart]) == [
        ("cart_update_quantity", {"product": "comte-18-mois", "quantity": 4})
    ]


@pytest.mark.parametrize(
    ("text", "qty"),
    [
        ("add 0 comté", 0),
        ("add -2 comté", -2),
        ("add a thousand comté", 1000),
        ("add a dozen comté", 12),
    ],
)
def test_bad_quantities_reach_the_tool(text: str, qty: int) -> None:
    # The tool validates; the brain passes on what the user said.
    assert calls(text) == [("cart_add", {"product": "comte-18-mois", "quantity": qty})]


def test_ambiguous_name_asks_which_one() -> None:
    reply = SKILL.respond(turn("add the beaufort"))
    assert (
        isinstance(reply, Reply)
        and "Summer Beaufort" in reply.text
        and "Beaufort sausage" in reply.text
    )


def test_not_mine_without_shop_tools() -> None:
    assert SKILL.respond(Turn(user_text="show me cheese", language="en", tools=frozenset())) is None
    lm = ScriptedLLM(skills=[load_skill("shop", "Shop"), SmallTalk()])
    assert lm.decide(turn("hello")).text.startswith("Hello!")  # type: ignore[union-attr]


def _after(
    name: str, output: dict[str, Any], lang: str = "en", error: bool = False, text: str = ""
) -> str:
    t = turn(text, lang)
    t.tool_results = [ToolResult(name, "{}", json.dumps(output), error)]
    reply = SKILL.after_tools(t)
    assert reply is not None
    return reply.text


def test_phrasing_results_in_both_languages() -> None:
    cart = {
        "action": "add",
        "product_id": "comte-18-mois",
        "total": 15.8,
        "items": [
            {"product_id": "comte-18-mois", "name": "Comté", "quantity": 2, "line_total": 15.8}
        ],
    }
    assert "Your total is 15.80 euros" in _after("cart_add", cart)
    assert "Le total est de 15,80 euros" in _after("cart_add", cart, "fr")
    kb = {
        "found": True,
        "answer": "One. Two. Three.",
        "source": {"title": "Delivery", "section": "Costs"},
    }
    assert _after("ask_knowledge_base", kb) == "One. Two. (Source: Delivery, Costs.)"
    assert "I don't know" in _after("ask_knowledge_base", {"found": False})
    assert "Votre commande est passée" in _after(
        "place_order", {"order_id": "ORD-1", "total": 3.0}, "fr"
    )
    err = {"error": "quantity_too_large", "max_quantity": 20}
    assert "at most 20" in _after("cart_add", err, error=True)
    assert "inventer" in _after("ask_knowledge_base", {"found": False}, "fr")


def test_attribute_questions_get_a_direct_answer() -> None:
    sheet = {
        "name": "Walnut oil",
        "attributes": {"organic": True},
        "allergens": ["nuts"],
        "in_stock": True,
        "producer": "Moulin",
        "price": 12.8,
        "unit": "50 cl",
    }
    assert (
        _after("display_product", sheet, text="is the walnut oil organic?")
        == "Walnut oil is organic."
    )
    assert _after("display_product", sheet, text="what allergens?") == "Walnut oil contains: nuts."


def test_many_adds_are_one_sentence() -> None:
    t = turn("")
    t.tool_results = [
        ToolResult(
            "cart_add",
            "{}",
            json.dumps(
                {
                    "product_id": "a",
                    "items": [{"product_id": "a", "name": "A", "quantity": 2}],
                    "total": 4.0,
                }
            ),
            False,
        ),
        ToolResult(
            "cart_add",
            "{}",
            json.dumps(
                {
                    "product_id": "b",
                    "items": [
                        {"product_id": "a", "name": "A", "quantity": 2},
                        {"product_id": "b", "name": "B", "quantity": 1},
                    ],
                    "total": 9.5,
                }
            ),
            False,
        ),
    ]
    assert SKILL.after_tools(t) == Reply(
        "I've added 2 × A and 1 × B to your cart. Your total is 9.50 euros."
    )


def test_deterministic() -> None:
    assert [calls("show me cheese") for _ in range(3)] == [calls("show me cheese")] * 3
    assert isinstance(SKILL.respond(turn("show me cheese")), list)
    assert all(isinstance(c, ToolRequest) for c in SKILL.respond(turn("show me cheese")))  # type: ignore[union-attr]
