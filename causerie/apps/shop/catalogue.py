"""The product catalogue: products, producers and categories, with their EN/FR texts.

Loading and validation live in :mod:`.catalogue_loader`; name matching in :mod:`.matching`.
Everything here is immutable once loaded, so one catalogue is shared by every session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...tools.textnorm import normalize


@dataclass(frozen=True)
class Localized:
    """A text in several languages; asking for a missing one falls back to English."""

    values: Mapping[str, str]

    def get(self, language: str) -> str:
        lang = language.split("-")[0]
        if lang in self.values:
            return self.values[lang]
        if "en" in self.values:
            return self.values["en"]
        return next(iter(self.values.values()), "")

    def all(self) -> list[str]:
        return [v for v in self.values.values() if v]


@dataclass(frozen=True)
class Category:
    id: str
    label: Localized
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Producer:
    id: str
    name: str
    region: str = ""
    description: Localized = field(default_factory=lambda: Localized({}))
    founded: int | None = None
    practices: tuple[str, ...] = ()

    def info(self, language: str) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.region:
            out["region"] = self.region
        if self.founded:
            out["founded"] = self.founded
        if self.practices:
            out["practices"] = list(self.practices)
        desc = self.description.get(language)
        if desc:
            out["description"] = desc
        return out


@dataclass(frozen=True)
class Product:
    id: str
    name: Localized
    category: str
    producer: str
    price: float
    unit: str = ""
    stock: int | None = None
    """None: not tracked (always available)."""
    description: Localized = field(default_factory=lambda: Localized({}))
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allergens(self) -> list[str]:
        raw = self.attributes.get("allergens", [])
        return [str(a) for a in raw] if isinstance(raw, list) else [str(raw)] if raw else []

    def in_stock(self, quantity: int = 1) -> bool:
        return self.stock is None or self.stock >= quantity


@dataclass
class Catalogue:
    products: dict[str, Product]
    producers: dict[str, Producer]
    categories: dict[str, Category]
    currency: str = "EUR"
    source: Path | None = None

    def __post_init__(self) -> None:
        from .matching import Lexicon

        self.lexicon = Lexicon(self)

    def __len__(self) -> int:
        return len(self.products)

    def get(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def producer_of(self, product: Product) -> Producer:
        return self.producers.get(product.producer) or Producer(
            id=product.producer, name=product.producer
        )

    def category_label(self, category_id: str, language: str) -> str:
        cat = self.categories.get(category_id)
        return cat.label.get(language) if cat else category_id

    def find_category(self, ref: str) -> Category | None:
        """A category by id, label or synonym, in any language."""
        key = normalize(ref)
        for cat in self.categories.values():
            names = [cat.id, *cat.label.all(), *cat.synonyms]
            if any(normalize(n) == key for n in names):
                return cat
        hits = self.lexicon.categories_in(ref)
        return self.categories[hits[0]] if hits else None

    def find_producer(self, ref: str) -> Producer | None:
        key = normalize(ref)
        for p in self.producers.values():
            if key in (normalize(p.id), normalize(p.name)):
                return p
        hits = self.lexicon.producers_in(ref)
        return self.producers[hits[0]] if len(hits) == 1 else None

    def card(self, product: Product, language: str) -> dict[str, Any]:
        """What the UI shows and the LLM reads about a product (short)."""
        producer = self.producer_of(product)
        return {
            "id": product.id,
            "name": product.name.get(language),
            "price": product.price,
            "currency": self.currency,
            "unit": product.unit,
            "category": product.category,
            "producer": producer.name,
            "organic": bool(product.attributes.get("organic", False)),
            "in_stock": product.in_stock(),
        }

    def sheet(self, product: Product, language: str) -> dict[str, Any]:
        """The full product sheet."""
        out = self.card(product, language)
        out["description"] = product.description.get(language)
        out["attributes"] = dict(product.attributes)
        out["allergens"] = product.allergens
        out["stock"] = product.stock
        out["producer_id"] = product.producer
        out["region"] = self.producer_of(product).region
        return out
