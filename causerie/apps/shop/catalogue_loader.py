"""Read a catalogue from JSON (or YAML), with errors that say where and what; the parts
:mod:`.catalogue_csv` shares. :func:`.catalogue_files.load_catalogue` picks the format.

Every problem is reported as ``file:line: where: field 'x': reason`` and all of them are
collected before raising one :class:`~causerie.errors.ConfigError`, so a user fixes a file
in one pass. The formats are documented in docs/TOOLS.md.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

from ruamel.yaml import YAML

from ...errors import ConfigError
from .catalogue import Catalogue, Category, Localized, Producer, Product

PRODUCT_FIELDS = (
    "id",
    "name",
    "description",
    "category",
    "producer",
    "price",
    "unit",
    "stock",
    "attributes",
)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
MAX_ERRORS = 20


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, line: int | None, where: str, field: str | None, reason: str) -> None:
        loc = f"{self.path}:{line}" if line else str(self.path)
        what = f"field {field!r}: " if field else ""
        self.items.append(f"{loc}: {where}: {what}{reason}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:MAX_ERRORS]
            more = len(self.items) - len(shown)
            tail = f"\n  ... and {more} more" if more else ""
            raise ConfigError(
                f"invalid catalogue {self.path} ({len(self.items)} problem(s)):\n  - "
                + "\n  - ".join(shown)
                + tail
            )


# -- JSON / YAML ---------------------------------------------------------------------------


def from_document(path: Path) -> Catalogue:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"catalogue {path}: not UTF-8 text (byte {e.start})") from None
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    try:
        doc = YAML(typ="rt").load(text)  # round-trip nodes know their line numbers
    except Exception as e:
        raise ConfigError(f"{path}: cannot parse: {e}") from None
    if isinstance(doc, list):
        doc = {"products": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("products"), list):
        raise ConfigError(
            f"{path}: expected a list of products, or an object with a 'products' list"
        )
    problems = _Problems(path)
    categories = _categories(doc.get("categories") or {}, problems)
    producers = _producers(doc.get("producers") or [], problems)
    parts = _Parts({}, producers, categories)
    for i, row in enumerate(doc["products"]):
        line = _line(row)
        if not isinstance(row, dict):
            problems.add(line, f"products[{i}]", None, "expected an object")
            continue
        where = f"products[{i}]" + (f" (id {row.get('id')!r})" if row.get("id") else "")
        flat = {str(k): _plain(v) for k, v in row.items()}
        product = _product(flat, problems, where, lambda f, r=row, ln=line: _line(r, f) or ln)
        strict = bool(doc.get("producers"))
        parts.add(product, problems, where, _line(row, "id") or line, strict_producers=strict)
    problems.raise_if_any()
    return Catalogue(*parts, str(doc.get("currency") or "EUR"), path)


def _line(node: Any, key: str | None = None) -> int | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        return int(lc.key(key)[0]) + 1 if key is not None else int(lc.line) + 1
    except (KeyError, TypeError, AttributeError):
        return int(lc.line) + 1


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _localized(v: Any) -> Localized | None:
    if isinstance(v, str):
        return Localized({"en": v})
    if (
        isinstance(v, dict)
        and v
        and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
    ):
        return Localized(dict(v))
    return None


def _categories(raw: Any, problems: _Problems) -> dict[str, Category]:
    out: dict[str, Category] = {}
    if not isinstance(raw, dict):
        problems.add(_line(raw), "categories", None, "expected an object {id: {label, synonyms}}")
        return out
    for cid, spec in raw.items():
        spec = _plain(spec) if isinstance(spec, dict) else {"label": spec}
        label = _localized(spec.get("label", cid)) or Localized({"en": str(cid)})
        syn = spec.get("synonyms") or []
        out[str(cid)] = Category(str(cid), label, tuple(str(s) for s in syn if isinstance(s, str)))
    return out


def _producers(raw: Any, problems: _Problems) -> dict[str, Producer]:
    out: dict[str, Producer] = {}
    if not isinstance(raw, list):
        problems.add(_line(raw), "producers", None, "expected a list")
        return out
    for i, p in enumerate(raw):
        if not isinstance(p, dict) or not p.get("id") or not p.get("name"):
            problems.add(
                _line(p), f"producers[{i}]", None, "each producer needs an 'id' and a 'name'"
            )
            continue
        d = _plain(p)
        out[str(d["id"])] = Producer(
            id=str(d["id"]),
            name=str(d["name"]),
            region=str(d.get("region") or ""),
            description=_localized(d.get("description")) or Localized({}),
            founded=d.get("founded") if isinstance(d.get("founded"), int) else None,
            practices=tuple(str(x) for x in d.get("practices") or []),
        )
    return out


# -- one product, from any format ------------------------------------------------------------


def _product(row: dict[str, Any], problems: _Problems, where: str, line_of: Any) -> Product | None:
    before = len(problems.items)

    def bad(field: str, reason: str) -> None:
        problems.add(line_of(field), where, field, reason)

    for key in row:
        if key not in PRODUCT_FIELDS:
            hint = difflib.get_close_matches(key, PRODUCT_FIELDS, n=1)
            bad(
                key,
                "unknown field"
                + (
                    f" (did you mean {hint[0]!r}?)"
                    if hint
                    else f"; known fields: {', '.join(PRODUCT_FIELDS)}"
                ),
            )
    pid = row.get("id")
    if not isinstance(pid, str) or not _ID.match(pid):
        bad("id", f"required; letters, digits, '-', '_', '.', ':' and no spaces, got {pid!r}")
    name = _localized(row.get("name"))
    if name is None or not all(s.strip() for s in name.all()):
        bad("name", "required; a text, or {en: ..., fr: ...}")
    desc = (
        _localized(row.get("description"))
        if row.get("description") not in (None, "")
        else Localized({})
    )
    if desc is None:
        bad("description", "must be a text or {en: ..., fr: ...}")
    for f in ("category", "producer"):
        if not isinstance(row.get(f), str) or not row[f].strip():
            bad(f, "required; a non-empty text")
    price = row.get("price")
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        bad("price", f"required; a number, got {price!r}")
    elif not math.isfinite(price) or price < 0 or price > 100_000:
        bad("price", f"must be between 0 and 100000, got {price}")
    stock = row.get("stock")
    if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int) or stock < 0):
        bad("stock", f"must be a whole number >= 0 (or empty for untracked), got {stock!r}")
    attrs = row.get("attributes") or {}
    if not isinstance(attrs, dict) or not all(
        _scalar(v) or (isinstance(v, list) and all(map(_scalar, v))) for v in attrs.values()
    ):
        bad("attributes", "must be an object of texts, numbers, booleans or lists of them")
    if len(problems.items) > before:
        return None
    assert name is not None and desc is not None and isinstance(pid, str)
    return Product(
        id=pid,
        name=name,
        description=desc,
        category=row["category"].strip(),
        producer=row["producer"].strip(),
        price=round(float(price), 2),  # type: ignore[arg-type]
        unit=str(row.get("unit") or ""),
        stock=stock,
        attributes=dict(attrs),
    )


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


class _Parts(NamedTuple):
    """What a catalogue is built from, filled row by row by either reader."""

    products: dict[str, Product]
    producers: dict[str, Producer]
    categories: dict[str, Category]

    def add(
        self,
        product: Product | None,
        problems: _Problems,
        where: str,
        line: int | None,
        *,
        strict_producers: bool,
    ) -> None:
        products, producers, categories = self
        if product is None:
            return
        if product.id in products:
            problems.add(line, where, "id", f"duplicate id {product.id!r}")
            return
        if product.producer not in producers:
            if strict_producers:
                known = ", ".join(sorted(producers))
                problems.add(
                    line,
                    where,
                    "producer",
                    f"unknown producer {product.producer!r}; known: {known}",
                )
                return
            producers[product.producer] = Producer(id=product.producer, name=product.producer)
        categories.setdefault(
            product.category, Category(product.category, Localized({"en": product.category}))
        )
        products[product.id] = product
