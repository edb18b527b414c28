"""The shipped order-status example runs end to end in ``causerie test``: the scenario starts
the example's mock service on a free port, and the agent calls the declared tool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from causerie.cli.main import main
from causerie.providers.registry import Registry
from causerie.scenarios import load_scenario
from causerie.scenarios.runner import run_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order_status"


def test_causerie_test_runs_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    main(["test", str(EXAMPLE / "scenarios"), "-v"])  # exit 0: no SystemExit
    out = capsys.readouterr().out
    assert "1/1 scenarios passed" in out
    assert "Order A1001 is shipped with La Poste, expected Tuesday." in out


async def test_a_service_that_dies_is_reported_and_nothing_is_left_running(
    tmp_path: Path,
) -> None:
    scn_file = tmp_path / "dead.yaml"
    scn_file.write_text(
        f"name: dead service\nconfig: {EXAMPLE / 'agent.yaml'}\n"
        "services: [{name: broken, command: [python, -c, 'import sys; sys.exit(3)'], "
        "url_env: ORDER_API_URL}]\n"
        "turns: [{user: hello}]\n"
    )
    res = await run_scenario(
        load_scenario(scn_file), default_config=None, registry=Registry.from_entry_points()
    )
    assert res.error is not None and "service 'broken' exited (3)" in res.error


async def test_services_are_stopped_after_the_scenario(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    scn_file = tmp_path / "svc.yaml"
    script = (
        "import os, sys, http.server as h; "
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
        "h.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), "
        "h.SimpleHTTPRequestHandler).serve_forever()"
    )
    scn_file.write_text(
        f"name: stops\nconfig: {EXAMPLE / 'agent.yaml'}\n"
        f"services: [{{name: web, command: [python, -c, {script!r}, '{{port}}'], "
        "url_env: ORDER_API_URL, ready: /}]\n"
        "env: {ORDER_API_TOKEN: t}\n"
        "turns: [{user: hello}]\n"
    )
    res = await run_scenario(
        load_scenario(scn_file), default_config=None, registry=Registry.from_entry_points()
    )
    assert res.passed, res.error
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone (reaped by the runner)
