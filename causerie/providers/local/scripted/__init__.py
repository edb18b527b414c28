"""The ``scripted`` LLM: a deterministic offline brain behind livekit-agents' ``llm.LLM``.

It is not a language model. It matches intents with keyword rules ("skills"), fills slots,
calls function tools through the normal function-calling path and answers from templates in
English or French. Swap it for a real LLM with ``causerie config set llm openai/gpt-4o-mini``.
"""

from .brain import Reply, Skill, ToolRequest, Turn
from .llm import ScriptedLLM

__all__ = ["Reply", "ScriptedLLM", "Skill", "ToolRequest", "Turn"]
