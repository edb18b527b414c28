"""Which tools an agent gets: ``tools:`` in agent.yaml names groups or single tools.

``tools: [all]``, ``tools: [search, cart]`` or ``tools: [search_products, cart_add]``.
Unknown names are a :class:`~causerie.errors.ConfigError` that lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from livekit.agents import llm

    from ..config.loader import LoadedConfig
    from .shop import Shop

TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "search": ("search_products", "highlight_products"),
    "presentation": ("display_product", "producer_info"),
    "comparison": ("compare_products", "generate_benchmark"),
    "knowledge": ("ask_knowledge_base",),
    "selection": ("selection_add", "selection_remove", "selection_list", "selection_clear"),
    "cart": ("cart_add", "cart_remove", "cart_update_quantity", "cart_list", "cart_clear"),
    "memory": ("session_memory_update",),
    "conclusion": ("finish_conversation", "place_order"),
}
ALIASES = {
    "knowledge_base": "knowledge",
    "kb": "knowledge",
    "catalogue": "search",
    "order": "conclusion",
}
ALL_TOOLS: tuple[str, ...] = tuple(t for group in TOOL_GROUPS.values() for t in group)


def expand(names: Iterable[str]) -> list[str]:
    """Group and tool names -> tool names, in the canonical order, without duplicates."""
    wanted: set[str] = set()
    for raw in names:
        name = raw.strip().lower()
        name = ALIASES.get(name, name)
        if name == "all":
            wanted.update(ALL_TOOLS)
        elif name in TOOL_GROUPS:
            wanted.update(TOOL_GROUPS[name])
        elif name in ALL_TOOLS:
            wanted.add(name)
        else:
            raise ConfigError(
                f"tools: unknown tool or group {raw!r}; groups: all, {', '.join(TOOL_GROUPS)}; "
                f"tools: {', '.join(ALL_TOOLS)}"
            )
    return [t for t in ALL_TOOLS if t in wanted]


def tools_for(shop: Shop, names: Iterable[str]) -> list[llm.FunctionTool]:
    from .browse import BrowseTools
    from .buckets import BucketTools
    from .conclusion import ConclusionTools

    boxes = [BrowseTools(shop), BucketTools(shop), ConclusionTools(shop)]
    # The scripted brain reads the catalogue through the tools, as an LLM reads their schemas.
    resources: dict[str, Any] = {"catalogue": shop.catalogue, "shop": shop}
    out = []
    for name in expand(names):
        box = next(b for b in boxes if hasattr(b, name))
        tool = getattr(box, name)
        tool.scripted_resources = resources
        out.append(tool)
    return out


def declared_tool_names(loaded: LoadedConfig) -> list[str]:
    """The agent's declared (HTTP API) tools; naming one in ``tools:`` is allowed."""
    return [t.name for t in loaded.spec.api_tools]


def build_tools(loaded: LoadedConfig) -> list[Any]:
    """The function tools ``loaded.spec.tools`` enables, then the declared ``api_tools``
    (empty list: none)."""
    from .shop import ShopOptions, load_shop

    spec = loaded.spec
    declared = set(declared_tool_names(loaded))
    names = expand([n for n in spec.tools if n.strip() not in declared])
    out: list[Any] = []
    if names:
        options = ShopOptions.from_config(dict(spec.tool_options), loaded.base_dir)
        out += tools_for(load_shop(options), names)
    if spec.api_tools:
        from .declared.build import build_declared

        out += build_declared(loaded)
    return out


def shop_of(tools: Iterable[Any]) -> Shop | None:
    """The shop behind a list of tools (e.g. an agent's), if any."""
    for t in tools:
        res = getattr(t, "scripted_resources", None)
        if isinstance(res, dict) and res.get("shop") is not None:
            shop: Shop = res["shop"]
            return shop
    return None
