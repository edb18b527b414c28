"""``config check``: what would fail only at start (unknown plugin, unknown tool, a language the
STT cannot recognise) is reported now, with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from causerie.cli.main import main
from causerie.config.loader import load_config
from causerie.config.spec import AgentSpec, ProviderSpec
from causerie.providers.info import ProviderInfo
from causerie.providers.registry import Registry
from causerie.runtime.checks import (
    check_languages,
    check_plugins,
    check_tools,
    known_tool_names,
)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("AGENT_LANGUAGE", "STT_PROVIDER", "ENABLED_PLUGINS", "LLM_PROVIDER"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_unknown_plugin_names_the_installed_ones() -> None:
    problems = check_plugins(["example", "sentiment"], {"example", "sentiment_analysis"})
    assert [p.field for p in problems] == ["plugins[1]"]
    assert "'sentiment'" in problems[0].message and "sentiment_analysis" in problems[0].message
    assert "causerie plugins remove sentiment" in problems[0].fix


def test_unknown_tool_against_the_given_names() -> None:
    known = {"search", "search_products", "order_status"}  # a declared tool counts as known
    assert check_tools(["Search", "order_status"], known) == []
    problems = check_tools(["search", "teleport"], known)
    assert [p.field for p in problems] == ["tools[1]"] and "teleport" in problems[0].message


def test_known_tool_names_has_groups_aliases_and_tools() -> None:
    known = known_tool_names(load_config(None, environ={}, dotenv=None))
    assert {"all", "search", "kb", "cart_add"} <= known


def test_french_with_pocketsphinx_gives_the_fix() -> None:
    registry = Registry.from_entry_points()
    problems = check_languages(AgentSpec(language="fr"), registry)
    assert len(problems) == 1
    p = problems[0]
    assert p.field == "language" and "pocketsphinx" in p.message and "'fr'" in p.message
    # The config lines: the offline whisper model folder first, then cloud STTs.
    lines = p.fix.splitlines()
    assert "stt: {provider: whisper, model: models/faster-whisper-small}" in lines[1]
    assert "offline" in lines[1] and "model folder" in lines[1]
    assert any("provider: deepgram" in line and "DEEPGRAM_API_KEY" in line for line in lines)
    assert "stt.options.hmm" in p.fix


def test_language_cases_that_pass() -> None:
    registry = Registry.from_entry_points()
    assert check_languages(AgentSpec(language="en-GB"), registry) == []
    own_model = ProviderSpec(provider="pocketsphinx", options={"hmm": "/models/fr"})
    assert check_languages(AgentSpec(language="fr", stt=own_model), registry) == []
    whisper = ProviderSpec(provider="whisper", model="models/x")
    assert check_languages(AgentSpec(language="fr", stt=whisper), registry) == []
    # A stage's own language is the one checked.
    stage_en = ProviderSpec(provider="pocketsphinx", language="en")
    assert check_languages(AgentSpec(language="fr", stt=stage_en), registry) == []
    stage_fr = ProviderSpec(provider="pocketsphinx", language="fr")
    assert [p.field for p in check_languages(AgentSpec(stt=stage_fr), registry)] == ["stt.language"]


def test_a_provider_declares_its_languages() -> None:
    def build(spec: ProviderSpec, ctx: object) -> None:
        return None

    registry = Registry(
        [
            ProviderInfo("stt", "english_only", build, languages=("en",)),
            ProviderInfo("stt", "french_too", build, languages=("en", "fr"), offline=True),
        ]
    )
    spec = AgentSpec(language="fr", stt=ProviderSpec(provider="english_only"))
    (problem,) = check_languages(spec, registry)
    assert "stt: {provider: french_too}   # offline" in problem.fix
    assert check_languages(AgentSpec(language="de", stt=spec.stt), registry)[0].fix.startswith(
        "choose another stt provider"
    )


def test_cli_reports_each_case_and_exits_1(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "agent.yaml").write_text(
        "language: fr\nplugins: [example, nope_plugin]\ntools: [search, nope_tool]\n"
    )
    code, out, err = run(["config", "check"], capsys)
    assert code == 1, (out, err)
    assert "FAIL plugins[1]: unknown plugin 'nope_plugin'" in err
    assert "FAIL tools[1]: unknown tool or group 'nope_tool'" in err
    assert "FAIL language:" in err and "provider: whisper" in err
    assert "valid" not in out


def test_cli_names_the_environment_source(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / ".env").write_text("AGENT_LANGUAGE=fr\n")
    code, _, err = run(["config", "check"], capsys)
    assert code == 1 and "[from .env (AGENT_LANGUAGE)]" in err


def test_cli_valid_definition(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "agent.yaml").write_text("plugins: [example]\ntools: [search]\n")
    code, out, err = run(["config", "check"], capsys)
    assert code == 0 and "agent.yaml: valid" in out, err
    assert "agent.yaml: valid" in out


def test_a_fallback_stt_is_checked_too() -> None:
    registry = Registry.from_entry_points()
    spec = AgentSpec.model_validate(
        {
            "language": "fr",
            "stt": [{"provider": "whisper", "model": "m"}, {"provider": "pocketsphinx"}],
        }
    )
    (problem,) = check_languages(spec, registry)
    assert problem.message.startswith("stt[1] provider 'pocketsphinx' cannot recognise 'fr'")


def test_a_declared_tool_is_a_known_tool(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "agent.yaml").write_text(
        "tools: [search, order_status]\napi_tools:\n  - name: order_status\n"
        "    description: Status of an order.\n"
        "    parameters: {type: object, properties: {order_id: {type: string}}}\n"
        '    request: {url: "http://127.0.0.1:9/orders/{{ order_id }}"}\n'
    )
    assert "order_status" in known_tool_names(load_config(None, environ={}, dotenv=None))
    code, out, err = run(["config", "check"], capsys)
    assert code == 0 and "agent.yaml: valid" in out, err
