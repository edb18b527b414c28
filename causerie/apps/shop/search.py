"""Catalogue search: free text ranked by word rarity, plus structured filters."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from ...tools.textnorm import normalize, terms
from .catalogue import Catalogue, Product

Sort = Literal["relevance", "price_asc", "price_desc", "name"]


@dataclass
class Filters:
    """The structured filters of a search (also what the scripted shop skill fills in)."""

    category: str | None = None
    producer: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    attributes: list[str] = field(default_factory=list)
    """'organic' (must be true) or 'colour=red' (equal, or contained for text and lists)."""
    exclude_allergens: list[str] = field(default_factory=list)


@dataclass
class Query(Filters):
    text: str = ""
    sort: Sort = "relevance"
    limit: int = 5


@dataclass
class SearchResult:
    products: list[Product]
    total: int
    unknown: list[str] = field(default_factory=list)
    """Filters that named nothing in the catalogue (an unknown category or producer)."""


class Index:
    """A bag-of-words index over each product's name, description, category, producer and
    attribute values, in every language."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.docs: dict[str, set[str]] = {}
        df: dict[str, int] = defaultdict(int)
        for p in catalogue.products.values():
            prod = catalogue.producer_of(p)
            cat = catalogue.categories.get(p.category)
            parts = [*p.name.all(), *p.description.all(), p.category, prod.name, prod.region]
            if cat:  # labels only: a synonym ("flour") must not match every product of "pantry"
                parts += cat.label.all()
            for k, v in p.attributes.items():
                if v is True:
                    parts.append(k.replace("_", " "))
                elif isinstance(v, (str, list)):
                    parts.append(" ".join(map(str, v)) if isinstance(v, list) else v)
            words = set(terms(" ".join(parts)))
            self.docs[p.id] = words
            for w in words:
                df[w] += 1
        n = max(len(self.docs), 1)
        self.idf = {w: math.log(1 + n / d) for w, d in df.items()}

    def score(self, product_id: str, words: list[str]) -> float:
        doc = self.docs[product_id]
        return sum(self.idf.get(w, 0.0) for w in set(words) if w in doc)


def _attr_ok(product: Product, spec: str) -> bool:
    key, eq, want = spec.partition("=")
    key = key.strip().lower().replace(" ", "_").replace("-", "_")
    value = product.attributes.get(key)
    if not eq:
        return value is True or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        )
    want_n = normalize(want)
    if isinstance(value, bool):
        return value == (want_n in ("true", "yes", "1", "oui"))
    if isinstance(value, list):
        return any(normalize(str(v)) == want_n for v in value)
    if isinstance(value, (int, float)):
        try:
            return float(want) == float(value)
        except ValueError:
            return False
    return value is not None and want_n in normalize(str(value))


def search(catalogue: Catalogue, index: Index, q: Query) -> SearchResult:
    unknown: list[str] = []
    pool = list(catalogue.products.values())
    if q.category:
        cat = catalogue.find_category(q.category)
        if cat is None:
            unknown.append(f"category {q.category!r}")
            pool = []
        else:
            pool = [p for p in pool if p.category == cat.id]
    if q.producer:
        prod = catalogue.find_producer(q.producer)
        if prod is None:
            unknown.append(f"producer {q.producer!r}")
            pool = []
        else:
            pool = [p for p in pool if p.producer == prod.id]
    if q.min_price is not None:
        pool = [p for p in pool if p.price >= q.min_price]
    if q.max_price is not None:
        pool = [p for p in pool if p.price <= q.max_price]
    for spec in q.attributes:
        pool = [p for p in pool if _attr_ok(p, spec)]
    if q.exclude_allergens:
        banned = {normalize(a) for a in q.exclude_allergens}
        pool = [p for p in pool if not banned & {normalize(a) for a in p.allergens}]
    scores: dict[str, float] = {}
    words = catalogue.lexicon.correct(terms(q.text)) if q.text else []
    if words:
        scores = {p.id: index.score(p.id, words) for p in pool}
        best = max(scores.values(), default=0.0)
        # Keep the products that match well, not every product sharing one common word.
        pool = [p for p in pool if best > 0 and scores[p.id] >= 0.5 * best]
    if q.sort == "price_asc":
        pool.sort(key=lambda p: (p.price, p.id))
    elif q.sort == "price_desc":
        pool.sort(key=lambda p: (-p.price, p.id))
    elif q.sort == "name":
        pool.sort(key=lambda p: p.name.get("en"))
    elif scores:
        pool.sort(key=lambda p: (-scores[p.id], p.price, p.id))
    limit = max(1, min(q.limit, 20))
    return SearchResult(products=pool[:limit], total=len(pool), unknown=unknown)


def describe_query(q: Query) -> dict[str, Any]:
    """The filters actually used, for the LLM and the UI."""
    out: dict[str, Any] = {}
    for k in ("text", "category", "producer", "min_price", "max_price", "sort"):
        v = getattr(q, k)
        if v not in (None, "", "relevance"):
            out[k] = v
    if q.attributes:
        out["attributes"] = q.attributes
    if q.exclude_allergens:
        out["exclude_allergens"] = q.exclude_allergens
    return out
