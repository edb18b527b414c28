"""Scenario tests: YAML conversations with expectations (tool calls, replies, UI events,
cart state), run with ``causerie test scenarios/``. Format: :mod:`.model`."""

from .model import Scenario, find_scenarios, load_scenario
from .runner import ScenarioResult, run_paths, run_scenario

__all__ = [
    "Scenario",
    "ScenarioResult",
    "find_scenarios",
    "load_scenario",
    "run_paths",
    "run_scenario",
]
