"""The agent definition: ``agent.yaml`` + ``.env`` + environment, typed and validated."""

from .loader import ENV_OVERRIDES, LoadedConfig, load_config
from .spec import AgentSpec, ProviderSpec, TurnSpec

__all__ = ["ENV_OVERRIDES", "AgentSpec", "LoadedConfig", "ProviderSpec", "TurnSpec", "load_config"]
