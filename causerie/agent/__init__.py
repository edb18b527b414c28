"""Builds the livekit-agents ``Agent`` and ``AgentSession`` from an agent definition."""
