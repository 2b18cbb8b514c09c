"""deploy/k8s: each overlay renders with `kubectl kustomize`, every object is valid for a current
Kubernetes (custom resources against their CRDs' published schemas), checkov finds nothing, and the
manifests agree with the services' own settings (ports, probes, setting names, secret files).

kubectl is a system tool (`make system-deps` reports it when missing; never skipped here)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SCHEMAS = Path(__file__).parent / "schemas"
CHECKOV_CONFIG = Path(__file__).parent / "checkov.yaml"
# checkov runs from an environment of its own (tests/deploy/checkov/pyproject.toml, `make install`).
CHECKOV_PYTHON = REPO / ".tools" / "checkov" / "bin" / "python"
# The newest Kubernetes whose schemas kubernetes-validate ships (1.37 with the locked version).
KUBERNETES_VERSION = kubernetes_validate.latest_version()

SERVICES = {  # Deployment name -> (python module, its settings module)
    "config-api": ("config_api", "config_api.settings"),
    "dispatcher": ("dispatcher", "dispatcher.settings"),
    "delivery-worker": ("delivery_worker", "delivery_worker.settings"),
    "dlq-replayer": ("dlq_replayer", "dlq_replayer.settings"),
}

Obj = dict[str, Any]


def render(overlay: str) -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(
            "kubectl is missing: the Kubernetes manifests cannot be rendered. Install kubectl 1.27 or later "
            "(Kustomize v5) from kubernetes.io; not Debian's kubernetes-client (older, conflicts). "
            "`make system-deps` checks for it."
        )
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {overlay} failed: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return {overlay: render(overlay) for overlay in OVERLAYS}


def by_kind(objs: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def pod_specs(objs: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for o in objs:
        if o["kind"] in ("Deployment", "Job"):
            yield f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"]


def python_pattern(pattern: str) -> str:
    """A Go regular expression of a CRD as Python's `re` reads it: Go accepts inline flags such as
    ``(?i)`` anywhere (prometheus-operator writes ``^(?i)(abort|warn)?$``), Python only at the start."""
    flags = "".join(re.findall(r"\(\?[a-z]+\)", pattern))
    return flags + re.sub(r"\(\?[a-z]+\)", "", pattern) if flags else pattern


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields rejected (what `kubectl apply --validate=strict` does);
    a typo in a custom resource would otherwise be pruned silently by the API server."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if isinstance(out.get("pattern"), str):
            out["pattern"] = python_pattern(out["pattern"])
        if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schema(obj: Obj) -> dict[str, Any] | None:
    group, _, version = obj["apiVersion"].rpartition("/")
    path = SCHEMAS / f"{group}_{version}_{obj['kind']}.json"
    return strict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None


@pytest.mark.parametrize("folder", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_every_manifest_file_is_part_of_its_kustomization(folder: str) -> None:
    """A manifest added beside a kustomization.yaml but not listed in it would never be deployed."""
    kustomization = yaml.safe_load((K8S / folder / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = {r for r in kustomization.get("resources", []) if not r.startswith("..")}
    files = {p.name for p in (K8S / folder).glob("*.yaml") if p.name != "kustomization.yaml"}
    assert files == listed, (
        f"{folder}: not listed {sorted(files - listed)}, listed but absent {sorted(listed - files)}"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_every_part(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objs = rendered[overlay]
    assert set(by_kind(objs, "Deployment")) == set(SERVICES)
    assert set(by_kind(objs, "Service")) == set(SERVICES)
    assert set(by_kind(objs, "PodDisruptionBudget")) == set(SERVICES)
    assert set(by_kind(objs, "Job")) == {"carehooks-migrate", "carehooks-topics"}
    assert set(by_kind(objs, "ScaledObject")) == {"dispatcher", "delivery-worker"}
    assert by_kind(objs, "ServiceMonitor") and by_kind(objs, "NetworkPolicy")
    assert not by_kind(objs, "Secret"), "secret values do not belong in the manifests"
    namespaces = {o["metadata"].get("namespace") for o in objs}
    assert len(namespaces) == 1 and None not in namespaces and "default" not in namespaces


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_setup_phase_is_the_config_and_the_two_jobs(rendered: dict[str, list[Obj]], overlay: str) -> None:
    """`kubectl apply -k <overlay> -l carehooks.io/setup=true` must bring everything the Jobs need."""
    setup = {
        (o["kind"], o["metadata"]["name"])
        for o in rendered[overlay]
        if o["metadata"].get("labels", {}).get("carehooks.io/setup") == "true"
    }
    config = next(o["metadata"]["name"] for o in rendered[overlay] if o["kind"] == "ConfigMap")
    assert setup == {("ConfigMap", config), ("Job", "carehooks-migrate"), ("Job", "carehooks-topics")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_alone_sets_the_replicas_it_scales(rendered: dict[str, list[Obj]], overlay: str) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    for name, scaled in by_kind(rendered[overlay], "ScaledObject").items():
        target = scaled["spec"]["scaleTargetRef"]["name"]
        assert target in deployments, f"ScaledObject {name} targets no Deployment"
        assert "replicas" not in deployments[target]["spec"], f"{target}: apply would reset KEDA's count"
        trigger = scaled["spec"]["triggers"][0]
        assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"] == target


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes(rendered: dict[str, list[Obj]], overlay: str) -> None:
    errors = []
    for obj in rendered[overlay]:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        schema = crd_schema(obj)
        try:
            if schema is not None:
                jsonschema.validate(obj, schema)
            else:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            errors.append(f"{name}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no schema for {obj['apiVersion']} (add its CRD schema to {SCHEMAS})")
    assert not errors, "\n".join(errors)


def test_the_validation_rejects_a_typo_in_a_custom_resource(rendered: dict[str, list[Obj]]) -> None:
    scaled = dict(by_kind(rendered["prod"], "ScaledObject")["dispatcher"])
    scaled["spec"] = {**scaled["spec"], "maxReplicas": 3}  # the field is maxReplicaCount
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, crd_schema(scaled))  # type: ignore[arg-type]


def test_checkov_finds_nothing(rendered: dict[str, list[Obj]], tmp_path: Path) -> None:
    files = []
    for overlay, objs in rendered.items():
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(yaml.safe_dump_all(objs), encoding="utf-8")
        files.append(str(path))
    # One process for both overlays: loading checkov is most of its run time.
    assert CHECKOV_PYTHON.exists(), (
        f"{CHECKOV_PYTHON} is missing: run `make install` (checkov's own environment)"
    )
    done = subprocess.run(
        [str(CHECKOV_PYTHON), str(Path(__file__).parent / "checkov_scan.py"), str(CHECKOV_CONFIG), *files],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert not summary["failed"], "\n".join(summary["failed"])
    assert not summary["parsing_errors"], summary["parsing_errors"]
    assert summary["passed"] > 100, "checkov ran (almost) no checks"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_locked_down(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for name, spec in pod_specs(rendered[overlay]):
        assert spec["automountServiceAccountToken"] is False, name
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] >= 10000, name
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0], f"{name}: no emptyDir for /tmp"
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), f"{name}: /tmp not mounted"
            assert "limits" in c["resources"] and "requests" in c["resources"], name


def load_settings_table() -> ModuleType:
    path = REPO / "deploy" / "local" / "settings_table.py"
    spec = importlib.util.spec_from_file_location("settings_table", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_port(settings_module: str) -> int:
    cls = load_settings_table().settings_class(settings_module)
    return int(cls.model_fields["port"].default)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_and_probes_match_the_services(rendered: dict[str, list[Obj]], overlay: str) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    services = by_kind(rendered[overlay], "Service")
    for name, (module, settings_module) in SERVICES.items():
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", module]
        port = default_port(settings_module)
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}], name
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        port_envs = {k: v for k, v in env.items() if k.endswith("_PORT")}
        assert port_envs and set(port_envs.values()) == {str(port)}, f"{name}: {port_envs}"
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        startup = container["startupProbe"]
        window = startup["periodSeconds"] * startup["failureThreshold"]
        assert window >= 240, f"{name}: startup window {window}s is below the services' own ready timeouts"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_files_are_mounted_where_the_settings_point(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objs = rendered[overlay]
    config = next(
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("carehooks-config")
    )
    for name, spec in pod_specs(objs):
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec.get("initContainers", []) + spec["containers"]:
            refs = [e["configMapRef"]["name"] for e in c.get("envFrom", [])]
            assert refs == [config["metadata"]["name"]], f"{name}: envFrom {refs}"
            env = {**config["data"], **{e["name"]: e.get("value", "") for e in c.get("env", [])}}
            assert not [e for e in c.get("env", []) if "valueFrom" in e], f"{name}: secrets as env, not files"
            for key, path in env.items():
                if not key.endswith("_FILE"):
                    continue
                mount = next((m for m in c["volumeMounts"] if path.startswith(m["mountPath"] + "/")), None)
                assert mount, f"{name}: {key}={path} is on no mounted volume"
                secret = volumes[mount["name"]]["secret"]
                items = [i["path"] for i in secret.get("items", [])]
                filename = path.removeprefix(mount["mountPath"] + "/")
                assert not items or filename in items, (
                    f"{name}: {key} needs {filename} in {secret['secretName']}"
                )
                assert secret["defaultMode"] & 0o040, f"{name}: the group (fsGroup) cannot read {path}"
