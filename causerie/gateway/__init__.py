"""``causerie gateway``: the agent's STT, TTS and LLM as an OpenAI-compatible HTTP service, so
heavy engines can live on another machine (docs/GATEWAY.md)."""

from .app import create_gateway_app
from .settings import GatewaySettings

__all__ = ["GatewaySettings", "create_gateway_app"]
