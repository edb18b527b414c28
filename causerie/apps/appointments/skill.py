"""The desk's skill for the offline scripted brain: keyword intents -> tool calls, tool
results -> a sentence. A real LLM needs none of this: it reads the tools' descriptions."""

from __future__ import annotations

import json

from ...providers.local.scripted.brain import Reply, Response, ToolRequest, Turn

TOOLS = ("list_slots", "book_appointment", "cancel_appointment")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def say_booked(slot: str, service: str) -> str:
    day, hour = slot.split(" ", 1)
    return f"You're booked: your {service} is on {day.capitalize()} at {hour}."


class DeskSkill:
    name = "appointments"

    def respond(self, turn: Turn) -> Response | None:
        if turn.has_any("cancel"):
            return [ToolRequest("cancel_appointment")]
        day = next((d for d in DAYS if d in turn.words), None)
        if day is not None:  # "Tuesday at 10, please"
            hour = next((w for w in turn.words if w[:1].isdigit()), "")
            return [ToolRequest("book_appointment", {"slot": f"{day} {hour}".strip()})]
        if turn.has_any("free", "available", "slot", "slots", "when", "appointment", "book"):
            return [ToolRequest("list_slots")]
        return None

    def after_tools(self, turn: Turn) -> Reply | None:
        mine = [r for r in turn.tool_results if r.name in TOOLS]
        if not mine:
            return None
        r = mine[-1]
        out = json.loads(r.output) if r.output.startswith("{") else {"message": r.output}
        if r.is_error:
            return Reply(f"Sorry, {out.get('message', 'that did not work')}")
        if r.name == "list_slots":
            free = [s.capitalize() for s in out["free"]]
            if not free:
                return Reply("Sorry, no slot is free at the moment.")
            listed = free[0] if len(free) == 1 else f"{', '.join(free[:-1])} or {free[-1]}"
            return Reply(f"I can offer {listed}. Which suits you?")
        if r.name == "book_appointment":
            return Reply(say_booked(out["booked"], out["service"]))
        return Reply(f"Done, your appointment on {out['cancelled'].capitalize()} is cancelled.")
