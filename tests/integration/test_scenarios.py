"""The shipped scenarios pass, and ``causerie test`` reports failures with a diff and a
non-zero exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from causerie.cli.main import main
from causerie.providers.registry import Registry
from causerie.scenarios import find_scenarios, load_scenario, run_paths

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


async def test_every_shipped_scenario_passes() -> None:
    results = await run_paths(
        [SCENARIOS], default_config=None, registry=Registry.from_entry_points()
    )
    from causerie.scenarios.report import format_result

    failed = [format_result(r) for r in results if not r.passed]
    assert not failed, "\n".join(failed)
    assert len(results) == len(find_scenarios([SCENARIOS])) >= 12


def test_scenarios_cover_every_tool_and_plugin() -> None:
    from causerie.plugins import BUILTIN
    from causerie.tools import ALL_TOOLS

    text = "\n".join(p.read_text(encoding="utf-8") for p in find_scenarios([SCENARIOS]))
    apps = [p.read_text(encoding="utf-8") for p in ROOT.glob("examples/*/scenarios/*.yaml")]
    missing_tools = [t for t in ALL_TOOLS if t not in "\n".join([text, *apps])]
    assert not missing_tools, f"no scenario calls {missing_tools}"
    text += (ROOT / "shop.yaml").read_text(encoding="utf-8")  # the plugins scenarios inherit
    missing_plugins = [p for p in BUILTIN if p not in text]
    assert not missing_plugins, f"no scenario enables {missing_plugins}"
    assert any(
        load_scenario(p).sessions[1:]
        for p in find_scenarios([SCENARIOS])
        if not load_scenario(p).expect_error
    )  # memory across sessions


def test_cli_reports_a_failing_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"name: wrong expectations\nconfig: {ROOT / 'shop.yaml'}\nturns:\n"
        "  - user: add two comté to my cart\n"
        "    expect:\n"
        "      tools: [{name: cart_add, arguments: {quantity: 3}}]\n"
        "      cart: {comte-18-mois: 3}\n"
        "      reply_contains: [banana]\n",
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as e:
        main(["test", str(bad), str(SCENARIOS / "cart.yaml")])
    out = capsys.readouterr().out
    assert e.value.code == 1
    assert "FAIL  bad.yaml: wrong expectations" in out and "PASS  cart.yaml" in out
    assert 'expected a call to cart_add with {"quantity": 3}' in out
    assert 'called: cart_add {"product": "comte-18-mois", "quantity": 2}' in out
    assert '-  "comte-18-mois": 3' in out and '+  "comte-18-mois": 2' in out
    assert "reply should contain 'banana'" in out
    assert "1/2 scenarios passed" in out


def test_cli_rejects_an_invalid_scenario_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "invalid.yaml"
    bad.write_text(
        "name: x\nturns:\n  - user: hi\n    expect: {reply_has: [x]}\n", encoding="utf-8"
    )
    with pytest.raises(SystemExit) as e:
        main(["--config", str(ROOT / "shop.yaml"), "test", str(bad)])
    assert e.value.code == 1
    assert "turns.0.expect.reply_has: Extra inputs are not permitted" in capsys.readouterr().out
