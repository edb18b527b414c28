"""``causerie agents list|new|copy|remove`` on real files, as a user runs them."""

from __future__ import annotations

from pathlib import Path

from causerie.config.loader import read_yaml
from tests.integration.test_cli import run

ROOT = Path(__file__).resolve().parents[2]


def test_agents_commands(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(
        "# mine\nname: Front Desk  # shown\nlanguage: en\ninstructions_file: prompt.md\n"
    )
    (tmp_path / "prompt.md").write_text("You greet visitors.\n")
    r = run("agents", "new", "help", "--name", "Help Desk", cwd=tmp_path)
    assert r.returncode == 0 and "before it can talk" not in r.stderr, r.stderr
    new = tmp_path / "agents" / "help.yaml"
    assert read_yaml(new)["name"] == "Help Desk" and read_yaml(new)["language"] == "en"
    r = run("config", "check", cwd=tmp_path, env={"CAUSERIE_CONFIG": str(new)})
    assert r.returncode == 0, r.stdout + r.stderr
    # French with the bundled English speech model: written, with what to fix first.
    r = run("agents", "new", "aide", "--language", "fr", cwd=tmp_path)
    assert r.returncode == 0 and "before it can talk: language:" in r.stderr, r.stderr
    (tmp_path / "agents" / "aide.yaml").unlink()

    r = run("agents", "copy", "agent", "shop", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    copy = (tmp_path / "agents" / "shop.yaml").read_text()
    assert (
        "# mine" in copy
        and "# shown" in copy
        and read_yaml(tmp_path / "agents" / "shop.yaml")["name"] == "shop"
    )  # its own label in metrics

    listed = run("agents", "list", cwd=tmp_path)
    assert listed.returncode == 0
    rows = listed.stdout.splitlines()
    assert rows[0].startswith("* agent") and "Front Desk" in rows[0]
    assert [r.split()[0] for r in rows[1:]] == ["help", "shop"]

    for args, words in [
        (("agents", "new", "help"), "exists already"),
        (("agents", "new", "Bad Name"), "lowercase"),
        (("agents", "copy", "nobody", "x"), "no agent named 'nobody'; agents: agent, help, shop"),
        (("agents", "remove", "agent", "--yes"), "main agent file"),
        (("agents", "remove", "nobody", "--yes"), "no agent named"),
    ]:
        r = run(*args, cwd=tmp_path)
        assert r.returncode != 0 and words in r.stderr, (args, r.stderr)
    assert not (tmp_path / "agents" / "x.yaml").exists()

    r = run("agents", "remove", "shop", cwd=tmp_path, stdin="n\n")
    assert r.returncode != 0 and (tmp_path / "agents" / "shop.yaml").exists()
    r = run("agents", "remove", "shop", "--yes", cwd=tmp_path)
    assert r.returncode == 0 and not (tmp_path / "agents" / "shop.yaml").exists()
    assert (tmp_path / "agent.yaml").exists()


def test_agents_list_without_any(tmp_path: Path) -> None:
    r = run("agents", "list", cwd=tmp_path)
    assert r.returncode != 0 and "causerie agents new" in r.stderr
