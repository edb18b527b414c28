"""The composition root: a process-level :class:`Runtime` (providers, tools, plugins'
stores, hooks) and a per-session :class:`Conversation` that every transport uses."""

from .conversation import Conversation
from .runtime import Runtime, build_tools_for

__all__ = ["Conversation", "Runtime", "build_tools_for"]
