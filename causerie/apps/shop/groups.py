"""The shop's tool groups, in the order an LLM sees the tools."""

from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {
    "search": ("search_products", "highlight_products"),
    "presentation": ("display_product", "producer_info"),
    "comparison": ("compare_products", "generate_benchmark"),
    "knowledge": ("ask_knowledge_base",),
    "selection": ("selection_add", "selection_remove", "selection_list", "selection_clear"),
    "cart": ("cart_add", "cart_remove", "cart_update_quantity", "cart_list", "cart_clear"),
    "memory": ("session_memory_update",),
    "conclusion": ("finish_conversation", "place_order"),
}
ALIASES: dict[str, str] = {
    "knowledge_base": "knowledge",
    "kb": "knowledge",
    "catalogue": "search",
    "order": "conclusion",
}
TOOLS: tuple[str, ...] = tuple(t for group in GROUPS.values() for t in group)
