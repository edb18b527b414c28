"""The shop app: a voice shop assistant for a cooperative of local producers.

Catalogue search and presentation, comparison, a knowledge base, selection and cart,
session memory and the conclusion (order or not); the scripted brain's ``shop`` skill; and
the page's clicks (add to cart, select, view). It plugs in through the ``causerie.apps``
entry point like any third-party app (docs/APPS.md); the platform never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ...appkit.api import App, AppContext, AppOptions
from .groups import ALIASES, GROUPS

if TYPE_CHECKING:
    from livekit.agents import llm

    from ...providers.local.scripted.brain import Skill


class ShopApp(App):
    name = "shop"
    description = "Voice shop assistant: catalogue, knowledge base, cart, order"
    groups: ClassVar[Mapping[str, tuple[str, ...]]] = GROUPS
    aliases: ClassVar[Mapping[str, str]] = ALIASES
    skills = ("shop",)

    def options_model(self) -> type[AppOptions]:
        from .options import ShopOptions

        return ShopOptions

    def build_tools(
        self, options: AppOptions, names: Sequence[str], ctx: AppContext
    ) -> list[llm.FunctionTool]:
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
