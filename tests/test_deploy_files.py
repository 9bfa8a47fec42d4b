"""The deployment files validate against their published schemas and agree with the service's own numbers.

These check the files as files: the compose file against the Compose Specification schema, the Dockerfile with
hadolint, the Kubernetes manifests against Kubernetes' own schemas (and KEDA's resources against models generated
from KEDA's CRDs). tests/test_image.py builds the image and runs it; tests/test_shipped_config.py starts WaveFlow
on the compose, Kubernetes and Dockerfile environments.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from waveflow.resources import temp_volume_bytes
from worker import GRACEFUL_SHUTDOWN

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
WORKER_HEALTH_PORT, BRIDGE_HEALTH_PORT = 9465, 9466


def tool(name: str) -> str:
    """A validator installed beside this interpreter by the development set."""
    found = Path(sys.executable).parent / name
    if not found.exists() and not shutil.which(name):
        pytest.skip(f"{name} is not installed: `make install` brings it with the development set")
    return str(found) if found.exists() else str(shutil.which(name))


def load_all(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    return [document for name in kustomization["resources"] for document in load_all(KUBERNETES / name)]


def find(kind: str, name: str) -> dict[str, Any]:
    [found] = [item for item in manifests() if item["kind"] == kind and item["metadata"]["name"] == name]
    return found


def container(deployment: str) -> dict[str, Any]:
    [only] = find("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return only


def quantity_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)?", value).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** ["", "Ki", "Mi", "Gi", "Ti"].index(unit or "")


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                             str(ROOT / "docker-compose.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_on_current_temporal_images_and_on_linux() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    images = {name: service.get("image", "") for name, service in services.items()}
    assert not any("auto-setup" in image for image in images.values())
    for repository in ("temporalio/server:", "temporalio/admin-tools:", "temporalio/ui:", "postgres:"):
        assert any(image.startswith(repository) for image in images.values()), repository
    assert images["worker"] == images["bridge"], "one image for both processes"
    for name in ("worker", "bridge"):
        assert "host.docker.internal:host-gateway" in services[name]["extra_hosts"], name
    worker_grace = int(services["worker"]["stop_grace_period"].removesuffix("s"))
    assert worker_grace > GRACEFUL_SHUTDOWN.total_seconds()


def test_dockerfile_passes_hadolint_runs_as_non_root_and_checks_health() -> None:
    dockerfile = ROOT / "Dockerfile"
    result = subprocess.run([tool("hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    text = dockerfile.read_text(encoding="utf-8")
    assert re.search(r"^USER 10001$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*waveflow\.health", text, re.M)


def test_dockerignore_lets_in_only_what_the_dockerfile_copies() -> None:
    allowed = {line.removeprefix("!").rstrip("/") for line in
               (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line.startswith("!")}
    copied = {source.rstrip("/") for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
              if line.startswith("COPY ") and "--from=" not in line for source in line.split()[1:-1]}
    assert copied == allowed


def test_the_image_and_the_package_carry_every_top_level_module() -> None:
    """A module beside worker.py that the image or the wheel leaves out stops the worker at its first import."""
    modules = {path.stem for path in ROOT.glob("*.py")}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = {source.removesuffix(".py") for line in dockerfile.splitlines()
              if line.startswith("COPY ") and "--from=" not in line for source in line.split()[1:-1]}
    packaged = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "py-modules"])
    assert modules <= copied and modules == packaged, (modules - copied, modules ^ packaged)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_manifests_follow_the_kubernetes_schemas(version: str) -> None:
    core = [item for item in manifests() if not item["apiVersion"].startswith("keda.sh/")]
    assert {item["kind"] for item in core} >= {"Deployment", "ConfigMap", "ServiceAccount", "PodDisruptionBudget"}
    for item in core:
        kubernetes_validate.validate(item, version, strict=True)


def test_keda_resources_follow_the_keda_crds() -> None:
    models = pytest.importorskip("cloudcoil.models.keda.v1alpha1",
                                 reason="cloudcoil-models-keda (KEDA's CRDs as models) is not installed")
    keda = [item for item in manifests() if item["apiVersion"].startswith("keda.sh/")]
    assert {item["kind"] for item in keda} == {"ScaledObject", "TriggerAuthentication"}
    for item in keda:
        parsed = getattr(models, item["kind"]).model_validate(item)
        # A field the CRD does not define would be dropped here: the round trip is the strict check.
        assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == item
    targets = {item["spec"]["scaleTargetRef"]["name"]: item for item in keda if item["kind"] == "ScaledObject"}
    assert set(targets) == {"waveflow-worker", "waveflow-bridge"}
    assert [trigger["type"] for trigger in targets["waveflow-bridge"]["spec"]["triggers"]] == ["aws-sqs-queue"]
    assert [trigger["type"] for trigger in targets["waveflow-worker"]["spec"]["triggers"]] == ["temporal"]


@pytest.mark.parametrize(("deployment", "port"), [("waveflow-worker", WORKER_HEALTH_PORT),
                                                  ("waveflow-bridge", BRIDGE_HEALTH_PORT)])
def test_probes_ask_the_health_endpoints_each_process_serves(deployment: str, port: int) -> None:
    spec = container(deployment)
    ports = {item["name"]: item["containerPort"] for item in spec["ports"]}
    env = {item["name"]: item.get("value") for item in spec["env"]}
    variable = "WORKER_HEALTH_BIND_ADDRESS" if deployment == "waveflow-worker" else "BRIDGE_HEALTH_BIND_ADDRESS"
    assert env[variable] == f"0.0.0.0:{port}" and ports["health"] == port
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert spec[probe]["httpGet"] == {"path": path, "port": "health"}, (deployment, probe)


def test_worker_outlives_its_graceful_shutdown_and_its_temp_volume_holds_its_budget() -> None:
    pod = find("Deployment", "waveflow-worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > GRACEFUL_SHUTDOWN.total_seconds()
    config = find("ConfigMap", "waveflow")["data"]
    [temp] = [volume for volume in pod["volumes"] if volume["name"] == "temp-area"]
    assert quantity_bytes(temp["emptyDir"]["sizeLimit"]) >= temp_volume_bytes(int(config["TEMP_BUDGET_MB"]) * 1024 ** 2)
    mounts = {mount["name"]: mount["mountPath"] for mount in container("waveflow-worker")["volumeMounts"]}
    assert mounts["temp-area"] == config["TEMP_DIR"]
    requested = container("waveflow-worker")["resources"]["requests"]["ephemeral-storage"]
    assert quantity_bytes(requested) >= quantity_bytes(temp["emptyDir"]["sizeLimit"])


def test_each_process_runs_under_its_own_identity_as_the_image_user() -> None:
    for deployment in ("waveflow-worker", "waveflow-bridge"):
        pod = find("Deployment", deployment)["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == deployment
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001


@pytest.mark.parametrize(("deployment", "variable"), [("waveflow-worker", "METRICS_BIND_ADDRESS"),
                                                      ("waveflow-bridge", "BRIDGE_HEALTH_BIND_ADDRESS")])
def test_each_pod_monitor_scrapes_the_port_its_process_serves_metrics_on(deployment: str, variable: str) -> None:
    [monitor] = [item for item in load_all(KUBERNETES / "monitoring" / "podmonitors.yaml")
                 if item["metadata"]["name"] == deployment]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "PodMonitor"
    pod_labels = find("Deployment", deployment)["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    others = [item for item in manifests() if item["kind"] == "Deployment" and item["metadata"]["name"] != deployment]
    assert not any(monitor["spec"]["selector"]["matchLabels"].items()
                   <= other["spec"]["template"]["metadata"]["labels"].items() for other in others)
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    spec = container(deployment)
    ports = {item["name"]: item["containerPort"] for item in spec["ports"]}
    env = {item["name"]: item.get("value") for item in spec["env"]}
    assert endpoint["path"] == "/metrics" and env[variable] == f"0.0.0.0:{ports[endpoint['port']]}"
    kustomization = yaml.safe_load((KUBERNETES / "monitoring" / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["resources"] == ["podmonitors.yaml"]
    assert kustomization["namespace"] == yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["namespace"]
