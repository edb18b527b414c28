"""The shop a session's tools work on: catalogue, search index, knowledge base, order book.

Built from ``tool_options`` in agent.yaml and cached per files (path + modification time),
so every session shares one catalogue and one index, and editing a file takes effect at the
next session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalogue import Catalogue
from .catalogue_files import load_catalogue
from .knowledge import KnowledgeBase
from .options import ShopOptions
from .orders import OrderBook
from .search import Index

if TYPE_CHECKING:
    from collections.abc import Iterable


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


def shop_of(tools: Iterable[Any]) -> Shop | None:
    """The shop behind a list of tools (e.g. an agent's), if any."""
    from ...appkit.tool import resources_of

    shop = resources_of(list(tools)).get("shop")
    return shop if isinstance(shop, Shop) else None
