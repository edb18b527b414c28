"""The shop a session's tools work on: catalogue, search index, knowledge base, order book.

Built from ``tool_options`` in agent.yaml and cached per files (path + modification time),
so every session shares one catalogue and one index, and editing a file takes effect at the
next session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .catalogue import Catalogue
from .catalogue_loader import load_catalogue
from .knowledge import KnowledgeBase
from .orders import OrderBook
from .search import Index

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_CATALOGUE = DATA_DIR / "catalogue.json"
DEFAULT_KB = DATA_DIR / "kb"


@dataclass(frozen=True)
class ShopOptions:
    catalogue: Path = DEFAULT_CATALOGUE
    knowledge_base: Path | None = DEFAULT_KB
    data_dir: Path = Path("var")
    tool_timeout: float = 5.0
    max_quantity: int = 20
    search_limit: int = 5
    kb_min_score: float = 0.3
    kb_min_coverage: float = 0.51

    @classmethod
    def from_config(cls, options: dict[str, Any], base_dir: Path) -> ShopOptions:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"tool_options: unknown option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )

        def path(key: str, default: Path | None) -> Path | None:
            raw = options.get(key, default)
            if raw in (None, "", False):
                return None
            p = Path(str(raw)).expanduser()
            return p if p.is_absolute() else base_dir / p

        def number(key: str, kind: type, lo: float, hi: float) -> Any:
            raw = options.get(key, getattr(cls, key))
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not lo <= raw <= hi:
                raise ConfigError(
                    f"tool_options.{key}: expected a number from {lo:g} to {hi:g}, got {raw!r}"
                )
            return kind(raw)

        catalogue = path("catalogue", DEFAULT_CATALOGUE)
        data_dir = path("data_dir", Path("var"))
        assert catalogue is not None and data_dir is not None
        return cls(
            catalogue=catalogue,
            knowledge_base=path("knowledge_base", DEFAULT_KB),
            data_dir=data_dir,
            tool_timeout=number("tool_timeout", float, 0.05, 120),
            max_quantity=number("max_quantity", int, 1, 10_000),
            search_limit=number("search_limit", int, 1, 20),
            kb_min_score=number("kb_min_score", float, 0, 100),
            kb_min_coverage=number("kb_min_coverage", float, 0, 1),
        )


@dataclass
class Shop:
    catalogue: Catalogue
    index: Index
    knowledge: KnowledgeBase | None
    orders: OrderBook
    options: ShopOptions


_catalogues: dict[tuple[Any, ...], tuple[Catalogue, Index]] = {}
_knowledge: dict[tuple[Any, ...], KnowledgeBase] = {}
_lock = threading.Lock()


def _stamp(path: Path | None) -> Any:
    if path is None or not path.exists():
        return None
    if path.is_dir():
        return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in path.rglob("*.md")))
    return path.stat().st_mtime_ns


def load_shop(options: ShopOptions) -> Shop:
    """The shop for these options. The catalogue, its index and the knowledge base are built
    once per set of files and shared (thread-safe); the order book is per data folder."""
    cat_key = (options.catalogue, _stamp(options.catalogue))
    kb_key = (
        options.knowledge_base,
        _stamp(options.knowledge_base),
        options.kb_min_score,
        options.kb_min_coverage,
    )
    with _lock:
        if cat_key not in _catalogues:
            catalogue = load_catalogue(options.catalogue)
            _catalogues[cat_key] = (catalogue, Index(catalogue))
        kb = _knowledge.get(kb_key)
        if kb is None and options.knowledge_base is not None:
            kb = KnowledgeBase(
                options.knowledge_base,
                min_score=options.kb_min_score,
                min_coverage=options.kb_min_coverage,
            )
            _knowledge[kb_key] = kb
        for cache in (_catalogues, _knowledge):
            if len(cache) > 16:  # files edited many times in a long-lived process
                cache.clear()
    catalogue, index = _catalogues[cat_key]
    return Shop(catalogue, index, kb, OrderBook(options.data_dir), options)
