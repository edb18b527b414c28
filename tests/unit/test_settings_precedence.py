"""One precedence for every setting (docs/CONFIG.md):

    command line  >  environment  >  .env  >  agent.yaml  >  defaults

One test per level winning, for the agent (and its store), the server and LiveKit settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from causerie.config.loader import load_config
from causerie.config.sources import Layers
from causerie.errors import ConfigError
from causerie.gateway.settings import GatewaySettings
from causerie.server.metrics_api import MetricsApiSettings
from causerie.server.settings import ServerSettings
from causerie.transports.livekit.settings import LiveKitSettings, WorkerSettings

YAML = "name: FromYaml\nllm: {provider: scripted, options: {agent_name: Y}}\n"
YAML += "metrics: {store_url: 'sqlite:///yaml.db'}\n"


def _load(
    tmp_path: Path,
    *,
    yaml: str | None = YAML,
    dotenv: str = "",
    environ: dict[str, str] | None = None,
    cli: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    cfg = tmp_path / "agent.yaml"
    if yaml is not None:
        cfg.write_text(yaml)
    env_file = tmp_path / ".env"
    env_file.write_text(dotenv)
    return load_config(
        cfg if yaml is not None else None, environ=environ or {}, dotenv=env_file, overrides=cli
    )


def test_defaults_when_nothing_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no agent.yaml here
    loaded = _load(tmp_path, yaml=None)
    assert loaded.spec.name == "Causerie"
    assert loaded.spec.metrics.store_url == "sqlite:///var/causerie.sqlite3"
    assert loaded.sources == {}
    assert Layers().build(ServerSettings).port == 8080
    assert Layers().build(LiveKitSettings).agent_name == "causerie"


def test_yaml_beats_defaults(tmp_path: Path) -> None:
    loaded = _load(tmp_path)
    assert loaded.spec.name == "FromYaml"
    assert loaded.spec.metrics.store_url == "sqlite:///yaml.db"
    assert "name" not in loaded.sources  # from the file itself


def test_dotenv_beats_yaml(tmp_path: Path) -> None:
    loaded = _load(tmp_path, dotenv="AGENT_NAME=FromDotenv\nCAUSERIE_STORE_URL=sqlite:///env.db\n")
    assert loaded.spec.name == "FromDotenv"
    assert loaded.spec.metrics.store_url == "sqlite:///env.db"
    assert loaded.sources["name"] == f"{tmp_path / '.env'} (AGENT_NAME)"
    layers = Layers(
        {}, {"CAUSERIE_PORT": "9100", "LIVEKIT_AGENT_NAME": "dot", "CAUSERIE_GATEWAY_PORT": "81"}
    )
    assert layers.build(ServerSettings).port == 9100
    assert layers.build(GatewaySettings).port == 81
    admin = Layers({}, {"CAUSERIE_ADMIN_TOKEN": "from-dotenv"}).build(MetricsApiSettings)
    assert admin.admin_token is not None
    assert admin.admin_token.get_secret_value() == "from-dotenv"
    assert LiveKitSettings.from_layers(layers).agent_name == "dot"


def test_environment_beats_dotenv(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path, dotenv="AGENT_NAME=FromDotenv\n", environ={"AGENT_NAME": "FromEnvironment"}
    )
    assert loaded.spec.name == "FromEnvironment"
    assert loaded.sources["name"] == "environment (AGENT_NAME)"
    layers = Layers(
        {"CAUSERIE_PORT": "9000", "CAUSERIE_WORKER_MAX_JOBS": "4"},
        {"CAUSERIE_PORT": "9100", "CAUSERIE_WORKER_MAX_JOBS": "8"},
    )
    assert layers.build(ServerSettings).port == 9000
    assert WorkerSettings.from_layers(layers).max_jobs == 4


def test_command_line_beats_environment(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path, environ={"AGENT_NAME": "FromEnvironment"}, cli={"name": "FromCommandLine"}
    )
    assert loaded.spec.name == "FromCommandLine"
    assert loaded.sources["name"] == "command line"
    layers = Layers({"CAUSERIE_PORT": "9000", "LIVEKIT_AGENT_NAME": "env"}, {})
    assert layers.build(ServerSettings, {"port": 9200}).port == 9200
    assert LiveKitSettings.from_layers(layers, agent_name="cli").agent_name == "cli"
    # An option not given (None) leaves the level below in charge.
    assert layers.build(ServerSettings, {"port": None}).port == 9000


def test_another_provider_from_above_drops_the_files_vendor_options(tmp_path: Path) -> None:
    """The file's options belong to its vendor: a variable choosing another one drops them;
    the same vendor keeps them."""
    loaded = _load(tmp_path, environ={"LLM_PROVIDER": "ollama"})
    assert loaded.spec.llm.provider == "ollama" and loaded.spec.llm.options == {}
    loaded = _load(tmp_path, environ={"LLM_PROVIDER": "scripted"})
    assert loaded.spec.llm.options == {"agent_name": "Y"}


def test_errors_name_the_level_they_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"turn\.max_tool_steps: .*\[from .*\.env \(MAX_TOOL"):
        _load(tmp_path, dotenv="MAX_TOOL_STEPS=many\n")
    with pytest.raises(ConfigError, match=r"^CAUSERIE_PORT \[from \.env\]: "):
        Layers({}, {"CAUSERIE_PORT": "x"}).build(ServerSettings)
    with pytest.raises(ConfigError, match=r"^LIVEKIT_URL: must be a ws://"):
        LiveKitSettings.from_env({"LIVEKIT_URL": "ftp://x"})
    with pytest.raises(ConfigError, match=r"^--port: "):
        Layers().build(ServerSettings, {"port": 70000})


def test_built_directly_process_settings_read_no_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEKIT_AGENT_NAME", "from-os-environ")
    assert LiveKitSettings().agent_name == "causerie"
    assert LiveKitSettings.from_env().agent_name == "from-os-environ"
