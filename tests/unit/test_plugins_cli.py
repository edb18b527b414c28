"""``causerie plugins list|add|remove``: validated, comment-preserving edits of agent.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from causerie.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_add_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "shop.yaml"
    shutil.copy(ROOT / "shop.yaml", cfg)
    code, out, _ = run(["--config", str(cfg), "plugins", "list"], capsys)
    assert code == 0 and "on  profanity_filter" in out and "    example" in out

    code, out, _ = run(["--config", str(cfg), "plugins", "add", "example"], capsys)
    assert code == 0 and "enabled example" in out
    text = cfg.read_text()
    assert "- example" in text and "# Run it:" in text  # comments kept

    code, out, _ = run(["--config", str(cfg), "plugins", "add", "example"], capsys)
    assert code == 0 and "already enabled" in out

    code, out, _ = run(["--config", str(cfg), "plugins", "remove", "profanity_filter"], capsys)
    assert code == 0 and "disabled profanity_filter" in out
    assert "profanity_filter" not in cfg.read_text().split("plugin_options")[0]


def test_unknown_names_list_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("name: T\nplugins: []\n")
    code, _, err = run(["--config", str(cfg), "plugins", "add", "sentiment"], capsys)
    assert (
        code == 2
        and "unknown plugin(s) 'sentiment'; available: conversation_memory, example" in err
    )
    code, _, err = run(["--config", str(cfg), "plugins", "remove", "example"], capsys)
    assert code == 1 and "'example' is not enabled" in err
    assert cfg.read_text() == "name: T\nplugins: []\n"


def test_config_may_follow_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "shop.yaml"
    shutil.copy(ROOT / "shop.yaml", cfg)
    code, out, _ = run(["plugins", "list", "--config", str(cfg)], capsys)
    assert code == 0 and f"# agent file: {cfg}" in out
