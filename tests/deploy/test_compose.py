"""deploy/compose.yaml: valid against the compose-spec schema (the copy check-jsonschema vendors, so
offline), built from deploy/Dockerfile, and started in order: topics and migrations, then services.

Docker is not available on the machines this runs on: the file is checked, never started."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose.yaml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"  # a dev dependency
SERVICES = {  # compose service -> (python module, default port)
    "config-api": ("config_api", 8080),
    "dispatcher": ("dispatcher", 9101),
    "delivery-worker": ("delivery_worker", 9102),
    "dlq-replayer": ("dlq_replayer", 8083),
}


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves the << merges
    return data


def test_valid_against_the_compose_spec() -> None:
    done = validate(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  api:\n    image: x\n    restart: sometimes\n    portz: [8080]\n")
    assert validate(broken).returncode != 0


def test_every_service_runs_the_image_of_the_dockerfile(compose: dict[str, Any]) -> None:
    uid = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert uid
    images = set()
    for name in [*SERVICES, "setup"]:
        svc = compose["services"][name]
        assert svc["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        images.add(svc["image"])
        assert svc["user"] == f"{uid[1]}:{uid[2]}", name
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert "/tmp" in svc["tmpfs"], name
    assert len(images) == 1, images


def test_setup_provisions_topics_and_migrates_before_the_services_start(compose: dict[str, Any]) -> None:
    setup = compose["services"]["setup"]
    script = " ".join(setup["command"])
    steps = [
        "python -m service_kit.topics apply",
        "python -m config_api migrate",
        "python -m dlq_replayer migrate",
    ]
    positions = [script.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), script
    assert "--replication-factor 1" in script, "a one-broker cluster cannot hold replication factor 3"
    assert setup["restart"] == "no"
    assert setup["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    for name, (module, port) in SERVICES.items():
        svc = compose["services"][name]
        assert svc["command"] == ["python", "-m", module], name
        assert svc["depends_on"] == {"setup": {"condition": "service_completed_successfully"}}, name
        env = svc["environment"]
        assert env["MIGRATE_ON_START"] == "false" and env["KAFKA_AUTO_CREATE_TOPICS"] == "false", name
        assert env["HEALTH_URL"] == f"http://127.0.0.1:{port}/healthz", name
        for published in svc.get("ports", []):
            assert published.startswith("127.0.0.1:"), f"{name} publishes {published} beyond loopback"
