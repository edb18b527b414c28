"""Causerie: real-time voice AI agents defined by config."""

__version__ = "0.1.0"
