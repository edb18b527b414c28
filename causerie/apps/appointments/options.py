"""The desk's ``tool_options`` (agent.yaml), typed: a misspelt option is refused by name."""

from __future__ import annotations

from pydantic import Field

from ...appkit.api import AppOptions

DEFAULT_SLOTS = ("monday 9:00", "monday 14:00", "tuesday 10:00", "wednesday 16:00")


class DeskOptions(AppOptions):
    slots: tuple[str, ...] = Field(
        default=DEFAULT_SLOTS, min_length=1, description="bookable slots"
    )
    service: str = Field(default="appointment", min_length=1, description="what is booked")
    tool_timeout: float = Field(default=5.0, ge=0.05, le=120, description="seconds per tool call")
