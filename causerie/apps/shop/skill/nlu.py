"""Slot filling for the shop skill: quantities, prices, attributes, products and references.

Pure functions over the user's text and the catalogue; the skill (:mod:`.shop`) decides what
to do with them. Text is compared normalized (no accents, lower case), English and French.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ....providers.local.scripted.brain import ToolResult
from ....tools.textnorm import normalize, singular, terms
from ..catalogue import Catalogue, Product
from ..search import Filters
from ..state import ALLERGEN_SYNONYMS

_NUMBERS = {
    w: int(n)
    for pair in (
        "zero=0 a=1 an=1 one=1 single=1 two=2 couple=2 three=3 four=4 five=5 six=6 seven=7 eight=8 "
        "nine=9 ten=10 eleven=11 twelve=12 dozen=12 fifteen=15 twenty=20 fifty=50 hundred=100 "
        "thousand=1000 million=1000000 un=1 une=1 deux=2 trois=3 quatre=4 cinq=5 sept=7 huit=8 "
        "neuf=9 dix=10 onze=11 douze=12 douzaine=12 quinze=15 vingt=20 cinquante=50 cent=100 "
        "mille=1000"
    ).split()
    for w, _, n in [pair.partition("=")]
}
_MULTIPLIERS = {"hundred": 100, "thousand": 1000, "cent": 100, "mille": 1000, "million": 1_000_000}
_ORDINALS = {
    w: int(n)
    for pair in (
        "first=0 premier=0 premiere=0 1st=0 second=1 deuxieme=1 seconde=1 2nd=1 third=2 "
        "troisieme=2 3rd=2 fourth=3 quatrieme=3 fifth=4 cinquieme=4 last=-1 dernier=-1 derniere=-1"
    ).split()
    for w, _, n in [pair.partition("=")]
}
REFERENCES = tuple(
    "it|that|this|that one|this one|them|those|these|the one|more|another|again|same|le|la|les|"
    "ca|cela|celui|celle|celui ci|celle ci|ceux|en|encore|autre|meme".split("|")
)
NUMBER_WORDS = frozenset(_NUMBERS) | {singular(w) for w in _NUMBERS}  # "deux" -> "deu"
_ALLERGENS = ALLERGEN_SYNONYMS
_ATTRIBUTES = {
    "organic": ("organic", "bio", "biologique"),
    "vegan": ("vegan", "vegetalien", "vegane"),
    "vegetarian": ("vegetarian", "vegetarien", "vegetarienne"),
    "colour=red": ("red", "rouge"),
    "colour=white": ("white", "blanc"),
    "colour=rosé": ("rose",),
    "smoked": ("smoked", "fume", "fumee"),
    "gift": ("gift", "cadeau"),
}
# Words that say "search", not what to search for.
SEARCH_WORDS = frozenset(
    terms(
        "have sell selling sells show find looking search something anything products product some "
        "any kind kinds type types shop offer propose proposez vendez vends avez trouver cherche "
        "recherche produit produits quelque chose genre sorte euro euros eur price prix cost coute "
        "under below less cheaper cheap over above more least most between max maximum minimum "
        "moins dessous plus entre pas cher bon marche expensive premium recommend recommande "
        "please would like love need want take buy ajoute ajoutez ajouter add put voudrais "
        "aimerais prendre prends mets mettez "
        "cart basket panier selection remove delete enleve retire change quantity quantite "
        "hello hi hey bonjour salut bonsoir perfect great ok okay well help aide",
        keep_stopwords=True,
    )
)


@dataclass
class Slots(Filters):
    sort: str = "relevance"
    query: str = ""

    def any(self) -> bool:
        return bool(
            self.category
            or self.producer
            or self.min_price is not None
            or self.max_price is not None
            or self.attributes
            or self.exclude_allergens
            or self.query
            or self.sort != "relevance"
        )

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for k in ("query", "category", "producer", "min_price", "max_price"):
            v = getattr(self, k)
            if v not in (None, ""):
                args[k] = v
        if self.attributes:
            args["attributes"] = self.attributes
        if self.exclude_allergens:
            args["exclude_allergens"] = self.exclude_allergens
        if self.sort != "relevance":
            args["sort"] = self.sort
        return args


def has(text: str, *keys: str) -> bool:
    t = f" {normalize(text)} "
    return any(f" {normalize(k)} " in t for k in keys)


def numbers(text: str) -> list[int]:
    """Quantities said in digits or words: 'two', 'a dozen', 'a thousand', '-3'."""
    out: list[int] = []
    raw = normalize(re.sub(r"(?<![\w.])-\s*(\d)", r" minus\1", text))
    words = raw.split()
    i = 0
    while i < len(words):
        w = words[i]
        neg = w.startswith("minus") and w[5:].isdigit()
        if neg or w.isdigit():
            out.append(-int(w[5:]) if neg else int(w))
        elif w in _NUMBERS and w not in ("a", "an", "un", "une"):
            value = _NUMBERS[w]
            if i + 1 < len(words) and words[i + 1] in _MULTIPLIERS and w not in _MULTIPLIERS:
                value *= _MULTIPLIERS[words[i + 1]]
                i += 1
            out.append(value)
        elif w in ("a", "an", "un", "une") and i + 1 < len(words) and words[i + 1] in _MULTIPLIERS:
            out.append(_MULTIPLIERS[words[i + 1]])
            i += 1
        i += 1
    return out


def quantity(text: str, product: Product | None = None) -> int | None:
    """The first number that is not part of the product's name ('2 Comté 18 months' -> 2)."""
    name_numbers: set[int] = set()
    if product is not None:
        for name in product.name.all():
            name_numbers |= {int(x) for x in re.findall(r"\d+", name)}
    for n in numbers(text):
        if n not in name_numbers or n < 0:
            return n
    return None


def price_slots(text: str, slots: Slots) -> None:
    t = normalize(text)
    num = r"(\d+(?:[.,]\d+)?)"
    between = re.search(rf"\b(?:between|entre)\s+{num}\s+(?:and|et)\s+{num}", t)
    if between:
        slots.min_price, slots.max_price = (
            float(between.group(i).replace(",", ".")) for i in (1, 2)
        )
        return
    upper = re.search(
        rf"\b(?:under|below|less than|cheaper than|at most|max|maximum|up to|no more "
        rf"than|moins de|en dessous de|au plus|pas plus de|jusqu a|inferieur a)\s+{num}",
        t,
    )
    lower = re.search(
        rf"\b(?:over|above|more than|at least|minimum|plus de|au moins|a partir de|"
        rf"superieur a)\s+{num}",
        t,
    )
    if upper:
        slots.max_price = float(upper.group(1).replace(",", "."))
    if lower:
        slots.min_price = float(lower.group(1).replace(",", "."))
    if has(text, "cheap", "cheapest", "inexpensive", "pas cher", "bon marche", "moins cher"):
        slots.sort = "price_asc"
    elif has(
        text, "expensive", "premium", "luxury", "most expensive", "plus cher", "haut de gamme"
    ):
        slots.sort = "price_desc"


def attribute_slots(text: str, slots: Slots) -> set[str]:
    """Fills attributes and excluded allergens; returns the words they used."""
    used: set[str] = set()
    t = f" {normalize(text)} "
    for allergen, words in _ALLERGENS.items():
        for w in words:
            if re.search(rf" (?:without|no|sans|pas de) (?:\w+ )?{w} | {w} free ", t):
                slots.exclude_allergens.append(allergen)
                used |= set(w.split())
                break
    for attr, words in _ATTRIBUTES.items():
        for w in words:
            if attr in ("colour=red", "colour=white") and not has(
                text, "wine", "wines", "vin", "vins"
            ):
                continue  # "white bread" is not a white wine
            if f" {w} " in t:
                slots.attributes.append(attr)
                used.add(w)
                break
    return used


def search_slots(text: str, catalogue: Catalogue | None) -> Slots:
    slots = Slots()
    price_slots(text, slots)
    used = attribute_slots(text, slots)
    skip = set(SEARCH_WORDS) | {w for w in used} | {"free", "without", "sans"}
    if catalogue is not None:
        cats = catalogue.lexicon.categories_in(text)
        if cats:
            slots.category = cats[0]
        producers = catalogue.lexicon.producers_in(text)
        if len(producers) == 1:
            slots.producer = catalogue.producers[producers[0]].name
            skip |= set(terms(slots.producer))
        skip |= catalogue.lexicon.label_words
        words = catalogue.lexicon.correct(terms(text))
    else:
        words = terms(text)
    rest = [
        w
        for w in words
        if w not in skip and w not in NUMBER_WORDS and not re.fullmatch(r"[\d.,]+", w)
    ]
    slots.query = " ".join(rest)
    return slots


def segments(text: str) -> list[str]:
    """'two comté and a honey, plus bread' -> ['two comté', 'a honey', 'bread']."""
    parts = re.split(
        r"\s*(?:,|;|\band\b|\bet\b|\bplus\b|\bwith\b|\bavec\b|\bvs\b|\bversus\b|"
        r"\bor\b|\bou\b|\bto\b|\bfrom\b)\s*",
        text,
        flags=re.I,
    )
    return [p for p in parts if p.strip()]


def products_named(text: str, catalogue: Catalogue) -> tuple[list[Product], list[Product]]:
    """(products named in the text, in order; candidates of the first ambiguous name)."""
    found: list[Product] = []
    ambiguous: list[Product] = []
    whole, cands = catalogue.lexicon.best(text)
    for seg in segments(text):
        p, c = catalogue.lexicon.best(seg)
        if p is not None and p not in found:
            found.append(p)
        elif c and not ambiguous:
            ambiguous = c
    if not found and whole is not None:
        found = [whole]
    if found:
        return found, []
    return [], ambiguous or cands


def ordinal(text: str) -> int | None:
    for w in normalize(text).split():
        if w in _ORDINALS:
            return _ORDINALS[w]
    return None


def refers_back(text: str) -> bool:
    return has(text, *REFERENCES) or ordinal(text) is not None


# -- what earlier tool calls showed ---------------------------------------------------------


def _ids_in(result: ToolResult) -> list[str]:
    try:
        out = json.loads(result.output)
    except ValueError:
        return []
    if not isinstance(out, dict):
        return []
    if isinstance(out.get("product_id"), str):
        return [out["product_id"]]
    if result.name == "display_product" and isinstance(out.get("id"), str):
        return [out["id"]]
    for key in ("products", "highlighted", "selection"):
        items = out.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            return [str(i["id"]) for i in items if "id" in i]
    return []


def last_shown(past: Iterable[ToolResult]) -> list[str]:
    """Ids the agent showed most recently (a search, a sheet, a cart line)."""
    for r in reversed(list(past)):
        if r.is_error or r.name in ("cart_list", "cart_clear", "selection_list", "producer_info"):
            continue
        ids = _ids_in(r)
        if ids:
            return ids
    return []


def cart_ids(result: ToolResult) -> list[str]:
    """Product ids in the cart after a cart tool ran (empty after an order)."""
    if result.is_error or result.name == "place_order":
        return []
    try:
        out = json.loads(result.output)
    except ValueError:
        return []
    items = out.get("items", []) if isinstance(out, dict) else []
    return [str(i["product_id"]) for i in items if isinstance(i, dict) and "product_id" in i]
