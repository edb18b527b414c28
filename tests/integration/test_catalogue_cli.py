"""``causerie providers`` and ``config show`` for the vendor catalogue and fallback chains."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import run


def test_providers_lists_the_catalogue_with_install_and_key_status(tmp_path: Path) -> None:
    r = run("providers", cwd=tmp_path, env={"MISTRAL_API_KEY": "k"})
    assert r.returncode == 0, r.stderr
    lines = {
        (line.split()[0], section): line for section, block in _sections(r.stdout) for line in block
    }
    assert "ready" in lines[("mistral", "LLM")]
    assert "needs key: GROQ_API_KEY" in lines[("groq", "LLM")]
    azure = lines[("azure", "STT")]
    assert "AZURE_SPEECH_KEY and AZURE_SPEECH_REGION" in azure
    for name, section in [("gladia", "STT"), ("rime", "TTS"), ("lmnt", "TTS"), ("google", "LLM")]:
        assert (name, section) in lines
    assert ("gladia", "TTS") not in lines


def test_config_show_shows_a_chain_as_a_list_with_keys_masked(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(
        "llm:\n"
        "  - {provider: mistral, model: mistral-small-latest, api_key: sk-hidden}\n"
        "  - {provider: scripted}\n"
        "fallback: {timeout: 3}\n"
    )
    r = run("config", "show", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "llm:\n  - provider: mistral\n    model: mistral-small-latest" in out
    assert "  - provider: scripted" in out and "timeout: 3.0" in out
    assert "sk-hidden" not in out and "fallbacks" not in out


def _sections(text: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line and not line.startswith(" "):
            out.append((line.split()[0], []))
        elif line.strip() and out:
            out[-1][1].append(line.strip())
    return out
