"""Every configuration we hand to operators is started by a test: docker-compose.yml's WaveFlow environment (as
Compose resolves `${VAR:-}` when the variable is unset, empty or set), the Kubernetes ConfigMap with the secret
example and the Deployments' own variables, and the Dockerfile's ENV. Each is loaded by the real settings code,
and a worker and a bridge started on it must turn ready against the embedded stack.

Only what names the other services is replaced for the run (Temporal's address and namespace, the S3/SQS
endpoint, bucket and queues, the webhook URL), plus the bind addresses and the temp area, which must not clash
with other tests, and the long poll, so that the bridge stops sooner: every other flag, limit and secret is the
shipped one.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from devstack.local_aws import LocalAws
from devstack.processes import TemporalDevServer, free_port, spawn, stop_process
from temporal_client import connect_config
from waveflow.settings import Settings
from waveflow.signing import new_secret

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}")
POD_NAME = "waveflow-worker-7d9c-x2x4z"


def compose_interpolate(value: str, variables: dict[str, str]) -> str:
    """`${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset) and `$$`, as the Compose spec says."""
    def resolve(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, default = match.groups()
        given = variables.get(name)
        if (operator == ":-" and not given) or (operator == "-" and given is None):
            return default
        return given or ""
    return COMPOSE_VARIABLE.sub(resolve, value)


def compose_environment(service: str, variables: dict[str, str]) -> dict[str, str]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    return {name: compose_interpolate(str(value), variables)
            for name, value in services[service]["environment"].items()}


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as kustomize's secretGenerator `envs` reads them."""
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#"))


def kubernetes_environment(deployment: str) -> dict[str, str]:
    """What the Deployment's container sees: the ConfigMap, the Secret made from the example, its own `env`."""
    [config_map] = yaml.safe_load_all((KUBERNETES / "config.yaml").read_text(encoding="utf-8"))
    [container] = next(document for document in yaml.safe_load_all(
        (KUBERNETES / f"{deployment}.yaml").read_text(encoding="utf-8")) if document["kind"] == "Deployment"
    )["spec"]["template"]["spec"]["containers"]
    own = {item["name"]: item.get("value", POD_NAME) for item in container.get("env", [])}
    return {**config_map["data"], **env_file(KUBERNETES / "secrets.env.example"), **own}


def dockerfile_environment() -> dict[str, str]:
    """The final stage's ENV, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    final_stage = text.rsplit("\nFROM ", 1)[1]
    pairs: dict[str, str] = {}
    for line in final_stage.splitlines():
        if line.startswith("ENV "):
            pairs.update(item.split("=", 1) for item in line.removeprefix("ENV ").split())
    return pairs


def load_settings_from(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr("os.environ", dict(environ))
    return Settings()  # type: ignore[call-arg]


COMPOSE_CASES = {"unset": {}, "empty": {"WEBHOOK_SECRET": "", "WEBHOOK_URL": ""},
                 "set": {"WEBHOOK_SECRET": new_secret(), "WEBHOOK_URL": "http://nest.internal:3000/webhook"}}


@pytest.mark.parametrize("case", COMPOSE_CASES)
@pytest.mark.parametrize("service", ["worker", "bridge"])
def test_compose_environment_loads_however_its_variables_are_given(service: str, case: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    variables = COMPOSE_CASES[case]
    settings = load_settings_from(compose_environment(service, variables), monkeypatch)
    assert (settings.webhook_secret is not None) is (case == "set")
    expected_url = variables.get("WEBHOOK_URL") or "http://host.docker.internal:3000/webhook"
    assert str(settings.webhook_url) == expected_url
    assert settings.temporal_search_attributes and settings.sqs_dlq_url
    assert connect_config(compose_environment(service, variables)) == {"target_host": "temporal:7233",
                                                                       "namespace": "default"}


@pytest.mark.parametrize("deployment", ["worker", "bridge"])
def test_kubernetes_configuration_loads_with_the_secret_example(deployment: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    environ = kubernetes_environment(deployment)
    settings = load_settings_from(environ, monkeypatch)
    assert settings.temporal_search_attributes and settings.sqs_queue_url
    if deployment == "worker":
        assert settings.worker_host_id == POD_NAME
    # The example's empty API key leaves TLS off; a filled-in one turns it on for Temporal Cloud.
    assert "tls" not in connect_config(environ)
    assert connect_config({**environ, "TEMPORAL_API_KEY": "key"})["tls"] is True


def test_no_secret_is_committed_to_the_kustomization() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    documents = [document for name in kustomization["resources"]
                 for document in yaml.safe_load_all((KUBERNETES / name).read_text(encoding="utf-8"))]
    assert [document["kind"] for document in documents if document["kind"] == "Secret"] == []
    [generated] = kustomization["secretGenerator"]
    assert generated["envs"] == ["secrets.env"]
    ignored = subprocess.run(["git", "check-ignore", "-q", str(KUBERNETES / "secrets.env")], cwd=ROOT)
    assert ignored.returncode == 0, "secrets.env must be ignored by git"
    assert set(env_file(KUBERNETES / "secrets.env.example")) == {"WEBHOOK_SECRET", "TEMPORAL_API_KEY"}


SHIPPED = {
    "compose, no secret exported": lambda service: compose_environment(service, {}),
    "compose, secret exported": lambda service: compose_environment(service, COMPOSE_CASES["set"]),
    "kubernetes": kubernetes_environment,
    "Dockerfile ENV": lambda service: dockerfile_environment(),
}


@pytest.fixture
def embedded(local_aws: LocalAws, temporal_server: TemporalDevServer) -> Iterator[dict[str, str]]:
    """Where the other services are, on the embedded stack: what replaces the shipped addresses."""
    name = f"shipped-{uuid.uuid4().hex[:10]}"
    local_aws.create_bucket(name)
    dlq_url = local_aws.create_queue(f"{name}-dlq")
    queue_url = local_aws.create_queue(name, dead_letter_queue_url=dlq_url)
    yield {"TEMPORAL_ADDRESS": temporal_server.address, "TEMPORAL_NAMESPACE": "default",
           "AWS_ENDPOINT_URL": local_aws.endpoint_url, "S3_BUCKET_NAME": name, "SQS_QUEUE_URL": queue_url,
           "SQS_DLQ_URL": dlq_url, "WEBHOOK_URL": "http://127.0.0.1:9/webhook", "TEMPORAL_TASK_QUEUE": f"tq-{name}"}


async def ready(url: str, timeout: float = 90.0) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(int(timeout / 0.25)):
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)
    raise AssertionError(f"{url} did not turn ready in {timeout} s")


@pytest.mark.parametrize("source", SHIPPED)
async def test_a_worker_and_a_bridge_start_on_each_shipped_configuration(source: str, embedded: dict[str, str],
                                                                       tmp_path: Path) -> None:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    ports = {"worker": free_port(), "bridge": free_port()}
    try:
        for service, script in (("worker", "worker.py"), ("bridge", "sqs_bridge.py")):
            environ = {**SHIPPED[source](service), **embedded, "TEMP_DIR": str(tmp_path / "temp"),
                       "WORKER_HOST_ID": f"shipped-{uuid.uuid4().hex[:8]}", "METRICS_BIND_ADDRESS": "",
                       # Shorter long polls only so that the bridge stops sooner.
                       "SQS_WAIT_TIME_SECONDS": "1",
                       "WORKER_HEALTH_BIND_ADDRESS": f"127.0.0.1:{ports['worker']}",
                       "BRIDGE_HEALTH_BIND_ADDRESS": f"127.0.0.1:{ports['bridge']}"}
            processes[service] = spawn(script, environ, tmp_path / f"{service}.log")
        await asyncio.gather(*(ready(f"http://127.0.0.1:{port}/readyz") for port in ports.values()))
    finally:
        for process in processes.values():
            stop_process(process)
    exits = {service: process.returncode for service, process in processes.items()}
    logs = {service: (tmp_path / f"{service}.log").read_text(encoding="utf-8") for service in processes}
    assert exits == {"worker": 0, "bridge": 0}, logs
    unsigned = [line for line in logs["worker"].splitlines() if "WEBHOOK_SECRET is not set" in line]
    assert len(unsigned) == (0 if source == "compose, secret exported" else 1), logs["worker"]
    # The dev server's namespace keeps closed runs 24 h; SQS keeps a message 4 days unless told otherwise.
    assert "namespace retention 24h is shorter than the 96h" in logs["bridge"]
