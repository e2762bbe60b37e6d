"""deploy/: the compose file and the Kubernetes manifests hold together and name only real
settings, with values the settings accept; every setting they use is documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from atelier.config.loader import load_settings
from atelier.config.settings import SECTIONS

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "team-server.md"
#: Variables that are not ``[section] key`` settings: where the workspace is, this server's
#: name among several, the key that seals stored credentials.
OTHER_VARIABLES = {"ATELIER_WORKSPACE", "ATELIER_NODE_NAME", "ATELIER_SECRETS_KEY"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _manifests() -> list[dict[str, Any]]:
    found = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def _settings_of(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("ATELIER_") and k not in OTHER_VARIABLES}


def _check_names(env: dict[str, str], where: str) -> None:
    for name in _settings_of(env):
        section, _, key = name.removeprefix("ATELIER_").lower().partition("_")
        assert section in SECTIONS, f"{where}: {name} names no settings section"
        assert key in SECTIONS[section].model_fields, f"{where}: {name} is not a setting"


def _server_env(compose: dict[str, Any], service: str) -> dict[str, str]:
    env = compose["services"][service]["environment"]
    return {str(k): str(v) for k, v in env.items()}


def test_compose_has_the_team_services() -> None:
    services = _compose()["services"]
    for needed in (
        "atelier-1",
        "atelier-2",
        "proxy",
        "postgres",
        "minio",
        "ray-head",
        "ray-worker",
    ):
        assert needed in services, f"compose.yaml: no service {needed}"


@pytest.mark.parametrize("service", ["atelier-1", "atelier-2"])
def test_compose_servers_use_real_settings_with_valid_values(service: str) -> None:
    compose = _compose()
    env = _server_env(compose, service)
    _check_names(env, f"compose.yaml {service}")
    settings = load_settings(None, environ=env)
    assert settings.server.mode == "team" and settings.compute.backend == "ray"
    # Every address points at a service of the file, on the port it listens on.
    services = compose["services"]
    for url in (
        settings.metadata.url,
        settings.warehouse.catalog_url,
        settings.storage.endpoint,
        settings.compute.ray_address,
        settings.server.internal_url,
    ):
        host = urlsplit(url).hostname
        assert host in services, f"compose.yaml {service}: {url} names no service"
    assert urlsplit(settings.server.internal_url).port == settings.server.port
    assert env["ATELIER_NODE_NAME"] == service  # each server its own name
    workspace = env["ATELIER_WORKSPACE"]
    assert any(v.endswith(f":{workspace}") for v in services[service]["volumes"])


def test_the_proxy_reaches_every_server_on_its_ports() -> None:
    compose = _compose()
    caddy = (DEPLOY / "Caddyfile").read_text()
    servers = [name for name in compose["services"] if name.startswith("atelier-")]
    for name in servers:
        env = _server_env(compose, name)
        for port in (env["ATELIER_SERVER_PORT"], env["ATELIER_SERVER_APPS_PORT"]):
            assert f"{name}:{port}" in caddy, f"Caddyfile: no upstream {name}:{port}"
    published = {p.split(":")[0] for p in compose["services"]["proxy"]["ports"]}
    for variable in ("ATELIER_SERVER_PUBLIC_URL", "ATELIER_SERVER_APPS_URL"):
        port = str(urlsplit(_server_env(compose, servers[0])[variable]).port)
        assert port in published, f"{variable} points at a port the proxy does not publish"
        assert f":{port} {{" in caddy


def test_kubernetes_manifests_hold_together() -> None:
    docs = _manifests()
    by_kind: dict[str, set[str]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    env: dict[str, str] = {}
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "Secret"):
            env.update(doc.get("data") or doc.get("stringData") or {})
    pods = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    labels = [d["spec"]["template"].get("metadata", {}).get("labels", {}) for d in pods]
    for doc in pods:
        spec = doc["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                kind, name = next(iter(source.items()))
                wanted = "ConfigMap" if kind == "configMapRef" else "Secret"
                assert name["name"] in by_kind.get(wanted, set()), f"no {wanted} {name}"
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert claim in by_kind["PersistentVolumeClaim"], f"no claim {claim}"
    for service in (d for d in docs if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= found.items() for found in labels), service
    servers = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "atelier"
    )
    assert servers["spec"]["replicas"] >= 2
    _check_names(env, "k8s")
    settings = load_settings(
        None, environ={**_settings_of(env), "ATELIER_SERVER_INTERNAL_URL": "http://10.0.0.1:8700"}
    )
    hosts = by_kind["Service"]
    for url in (settings.metadata.url, settings.warehouse.catalog_url, settings.storage.endpoint):
        assert urlsplit(url).hostname in hosts, f"k8s: {url} names no Service"
    assert urlsplit(settings.compute.ray_address).hostname in hosts


def test_every_variable_of_the_deployment_is_documented() -> None:
    guide = GUIDE.read_text()
    names = set(_server_env(_compose(), "atelier-1"))
    for doc in _manifests():
        if doc["kind"] in ("ConfigMap", "Secret"):
            names |= {
                n for n in (doc.get("data") or doc.get("stringData")) if n.startswith("ATELIER_")
            }
    missing = sorted(n for n in names if f"`{n}`" not in guide)
    assert missing == [], f"document these in docs/team-server.md: {missing}"


def test_podman_compose_reads_the_file() -> None:
    """podman-compose (a development dependency) reads and resolves the file."""
    result = subprocess.run(
        [sys.executable, "-m", "podman_compose", "-f", str(DEPLOY / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"atelier-2", result.stdout)
