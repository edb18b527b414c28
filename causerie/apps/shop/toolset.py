"""The shop's function tools for a list of tool names, bound to one shop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...appkit.tool import AppTool
from .groups import TOOLS

if TYPE_CHECKING:
    from .shop import Shop


def tools_for(shop: Shop, names: Iterable[str]) -> list[Any]:
    """``names`` (tool names, or ``["all"]``) as tools on ``shop``, in the canonical order."""
    from .browse import BrowseTools
    from .buckets import BucketTools
    from .conclusion import ConclusionTools

    wanted = set(names)
    ordered = [t for t in TOOLS if "all" in wanted or t in wanted]
    boxes = [BrowseTools(shop), BucketTools(shop), ConclusionTools(shop)]
    # The scripted brain reads the catalogue through the tools, as an LLM reads their schemas.
    resources: dict[str, Any] = {"catalogue": shop.catalogue, "shop": shop}
    out: list[Any] = []
    for name in ordered:
        box = next(b for b in boxes if hasattr(b, name))
        out.append(AppTool(getattr(box, name), resources))
    return out
