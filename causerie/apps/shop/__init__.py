"""The shop app: a voice shop assistant for a cooperative of local producers.

Catalogue search and presentation, comparison, a knowledge base, selection and cart,
session memory and the conclusion (order or not); the scripted brain's ``shop`` skill; and
the page's clicks (add to cart, select, view). It plugs in through the ``causerie.apps``
entry point like any third-party app (docs/APPS.md); the platform never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..api import App, AppContext, AppOptions

if TYPE_CHECKING:
    from livekit.agents import llm

    from ...providers.local.scripted.brain import Skill


class ShopApp(App):
    name = "shop"
    description = "Voice shop assistant: catalogue, knowledge base, cart, order"
    groups: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "search": ("search_products", "highlight_products"),
        "presentation": ("display_product", "producer_info"),
        "comparison": ("compare_products", "generate_benchmark"),
        "knowledge": ("ask_knowledge_base",),
        "selection": ("selection_add", "selection_remove", "selection_list", "selection_clear"),
        "cart": ("cart_add", "cart_remove", "cart_update_quantity", "cart_list", "cart_clear"),
        "memory": ("session_memory_update",),
        "conclusion": ("finish_conversation", "place_order"),
    }
    aliases: ClassVar[Mapping[str, str]] = {
        "knowledge_base": "knowledge",
        "kb": "knowledge",
        "catalogue": "search",
        "order": "conclusion",
    }
    skills = ("shop",)

    def options_model(self) -> type[AppOptions]:
        from .options import ShopOptions

        return ShopOptions

    def build_tools(
        self, options: AppOptions, names: Sequence[str], ctx: AppContext
    ) -> list[llm.FunctionTool]:  # type: ignore[type-arg]
        from .options import ShopOptions
        from .shop import load_shop
        from .toolset import tools_for

        assert isinstance(options, ShopOptions)
        return tools_for(load_shop(options), names)

    def skill(self, name: str, *, agent_name: str) -> Skill:
        from .skill.skill import ShopSkill

        if name != "shop":
            raise KeyError(name)
        return ShopSkill(agent_name=agent_name)

    async def client_action(self, session: Any, event: dict[str, Any]) -> dict[str, Any] | None:
        from .actions import handle_client_action, is_shop_action

        if not is_shop_action(session, event):
            return None
        return await handle_client_action(session, event)
