"""The deployment files name only settings the services read, and scale only as far as the topics allow.

The services ignore unknown environment variables, so a misspelt or renamed setting in a manifest
would be dropped silently: these tests compare every name with the settings classes (through the
README table's generator). ``NAME_FILE`` counts as ``NAME`` (any setting can be read from a file).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
TOPICS_FILE = DEPLOY / "topics.yaml"
SERVICE_OF = {  # Deployment / compose service -> settings table service name
    "config-api": "config-api",
    "dispatcher": "dispatcher",
    "delivery-worker": "delivery-worker",
    "dlq-replayer": "dlq-replayer",
}
# Read by something other than a service: the compose health check and the postgres container.
NOT_SERVICE_SETTINGS = {"HEALTH_URL", "POSTGRES_PASSWORD"}


def load_settings_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table", DEPLOY / "local" / "settings_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def read_by() -> dict[str, set[str]]:
    """Setting name -> the services that read it."""
    return {name: set(services) for name, services, _, _ in load_settings_table().rows()}


def unknown(names: set[str], known: set[str]) -> list[str]:
    return sorted(n for n in names if n not in known and n.removesuffix("_FILE") not in known)


def render_prod() -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "k8s" / "overlays" / "prod")],
        capture_output=True,
        text=True,
        check=True,
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_kubernetes_settings_are_read_by_the_services(read_by: dict[str, set[str]]) -> None:
    objs = render_prod()
    config = next(o for o in objs if o["kind"] == "ConfigMap")
    stray = unknown(set(config["data"]), set(read_by))
    assert not stray, f"ConfigMap keys no service reads: {stray}"
    for deployment in (o for o in objs if o["kind"] == "Deployment"):
        service = SERVICE_OF[deployment["metadata"]["name"]]
        own = {name for name, services in read_by.items() if service in services}
        env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        stray = unknown(env, own)
        assert not stray, f"{service} does not read {stray}"


def test_compose_and_env_example_settings_are_read_by_the_services(read_by: dict[str, set[str]]) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    names: set[str] = set()
    for name in SERVICE_OF:
        names |= set(compose["services"][name]["environment"])
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    names |= set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.M))
    stray = unknown(names - NOT_SERVICE_SETTINGS, set(read_by))
    assert not stray, f"compose.yaml / env.example set what no service reads: {stray}"


def test_autoscaling_stops_at_the_partition_count() -> None:
    assert TOPICS_FILE.exists(), f"{TOPICS_FILE} is missing (the desired topic state of issue 16 item 3)"
    partitions = {
        t["name"]: t["partitions"] for t in yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))["topics"]
    }
    inputs = {
        "dispatcher": ["integrations.surveymonkey.events", "integrations.fhir.events"],
        "delivery-worker": ["webhooks.deliveries", "webhooks.deliveries.priority"],
    }
    for overlay in ("dev", "prod"):
        text = (DEPLOY / "k8s" / "overlays" / overlay / "scaled-objects.yaml").read_text(encoding="utf-8")
        for scaled in (d for d in yaml.safe_load_all(text) if d and d["kind"] == "ScaledObject"):
            target = scaled["spec"]["scaleTargetRef"]["name"]
            most = max(partitions[topic] for topic in inputs[target])
            assert scaled["spec"]["maxReplicaCount"] <= most, (
                f"{overlay}/{target}: replicas beyond {most} partitions idle"
            )
            if overlay == "prod":
                assert scaled["spec"]["maxReplicaCount"] == most, (
                    f"prod/{target} should reach the partition count"
                )
