"""The appointment desk: a tiny app that books, lists and cancels appointments.

It is the template for an app of your own: copy this folder, rename it, and declare it in
your package's ``pyproject.toml``::

    [project.entry-points."causerie.apps"]
    my_app = "my_package.my_app:MyApp"

It has its own tools (:mod:`.tools`), typed ``tool_options`` (:mod:`.options`), a skill for
the offline scripted brain (:mod:`.skill`) and a click handler (:meth:`client_action`).
See docs/APPS.md and examples/appointments/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ...appkit.api import App, AppContext, AppOptions

if TYPE_CHECKING:
    from livekit.agents import llm

    from ...providers.local.scripted.brain import Skill


class AppointmentsApp(App):
    name = "appointments"
    description = "Appointment desk: free slots, booking, cancelling"
    groups: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "booking": ("list_slots", "book_appointment", "cancel_appointment"),
    }
    skills = ("appointments",)

    def options_model(self) -> type[AppOptions]:
        from .options import DeskOptions

        return DeskOptions

    def build_tools(
        self, options: AppOptions, names: Sequence[str], ctx: AppContext
    ) -> list[llm.FunctionTool]:
        from .options import DeskOptions
        from .tools import tools_for

        assert isinstance(options, DeskOptions)
        return tools_for(options, names)

    def skill(self, name: str, *, agent_name: str) -> Skill:
        from .skill import DeskSkill

        return DeskSkill()

    async def client_action(self, session: Any, event: dict[str, Any]) -> dict[str, Any] | None:
        from .tools import CLICKS, click

        if event.get("action") not in CLICKS:
            return None
        return await click(session, event)
