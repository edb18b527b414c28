"""The desk's function tools. Bookings live in the session's data (one caller, one booking);
a real desk would call its calendar's API here instead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from livekit.agents import RunContext, ToolError, function_tool

from ...appkit.tool import AppTool, resources_of
from ...tools.base import dump, fail, guarded, session_data
from .options import DeskOptions

CLICKS = ("book_slot", "cancel_booking")


class DeskTools:
    def __init__(self, options: DeskOptions) -> None:
        self.options = options
        self.tool_timeout = options.tool_timeout

    def free(self, state: dict[str, Any]) -> list[str]:
        return [s for s in self.options.slots if s != state.get("booking")]

    def slot(self, ref: str) -> str:
        """The slot ``ref`` names ("tuesday 10:00", "Tuesday at 10"), or a readable error."""
        words = ref.lower().replace(" at ", " ").replace(".", ":").split()
        for slot in self.options.slots:
            day, hour = slot.split(" ", 1)
            if day in words and any(w in (hour, hour.split(":")[0]) for w in words):
                return slot
        fail("unknown_slot", f"No slot {ref!r}; free slots: {', '.join(self.options.slots)}.")

    @function_tool
    @guarded
    async def list_slots(self, ctx: RunContext[Any]) -> str:
        """List the free appointment slots. Call it before proposing a time."""
        return dump({"service": self.options.service, "free": self.free(session_data(ctx).state)})

    @function_tool
    @guarded
    async def book_appointment(self, ctx: RunContext[Any], slot: str) -> str:
        """Book the caller's appointment; one per caller (booking again moves it).

        Args:
            slot: The slot, as list_slots gives it, e.g. "tuesday 10:00".
        """
        data = session_data(ctx)
        data.state["booking"] = self.slot(slot)
        data.events.emit("appointment", action="booked", slot=data.state["booking"])
        return dump({"booked": data.state["booking"], "service": self.options.service})

    @function_tool
    @guarded
    async def cancel_appointment(self, ctx: RunContext[Any]) -> str:
        """Cancel the caller's appointment, if they have one."""
        data = session_data(ctx)
        slot = data.state.pop("booking", None)
        if slot is None:
            fail("no_booking", "The caller has no appointment to cancel.")
        data.events.emit("appointment", action="cancelled", slot=slot)
        return dump({"cancelled": slot})


def tools_for(options: DeskOptions, names: Iterable[str]) -> list[Any]:
    box = DeskTools(options)
    return [AppTool(getattr(box, n), {"desk": box}) for n in names]


async def click(session: Any, event: dict[str, Any]) -> dict[str, Any]:
    """A click on a slot in the page: book or cancel it at once, and say so."""
    from .skill import say_booked

    data = session.userdata
    box = resources_of(getattr(session.current_agent, "tools", [])).get("desk")
    action = str(event["action"])
    ok, text = False, "This agent books no appointments."
    if box is not None:
        if action == "cancel_booking":
            ok, slot = data.state.pop("booking", None) is not None, None
            text = "Your appointment is cancelled." if ok else "You have no appointment."
        else:
            try:
                slot = box.slot(str(event.get("slot") or ""))
            except ToolError:
                text = f"Sorry, there is no such slot; free: {', '.join(box.options.slots)}."
            else:
                data.state["booking"], ok = slot, True
                data.events.emit("appointment", action="booked", slot=slot)
                text = say_booked(slot, box.options.service)
    session.say(text)
    data.events.emit("status_update", status="client_action", action=action, ok=ok)
    return {"ok": ok, "action": action, "message": text}
