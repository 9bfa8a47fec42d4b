"""The Docker image as shipped: built from the Dockerfile on a private engine, then the worker and the bridge run as
containers against the embedded stack.

No image registry is reachable, so the base is a stand-in for `python:3.11-slim-bookworm` made from Debian's
packages (devstack/container_engine.py). Containers share the host network: the stack listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from devstack.container_engine import (
    DockerEngine,
    EngineUnavailable,
    build_base_image,
    build_project_image,
    install_engine_tools,
)
from devstack.local_aws import LocalAws, local_aws_environment
from devstack.processes import LOOPBACK, TemporalDevServer, free_port
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request

pytestmark = pytest.mark.xdist_group("image")  # its tests share one engine and one built image

IMAGE = "waveflow:test"
NON_ROOT_UID = 10001
# Setup (apt install, debootstrap, the build) counts toward the first test's timeout.
LANE_TIMEOUT_SECONDS = 900
HEALTHY_TIMEOUT_SECONDS = 120.0
STEM_TIMEOUT_SECONDS = 120.0


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def unavailable(reason: str) -> NoReturn:
    """CI must run this lane, so there a missing engine fails it; elsewhere (no root, no apt) it is skipped."""
    if running_in_ci():
        pytest.fail(f"the container engine is unavailable: {reason}")
    pytest.skip(f"the container engine is unavailable: {reason}")


@contextlib.contextmanager
def timed(phases: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        phases[name] = time.monotonic() - started


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A private dockerd holding the project's image, built once for the module."""
    phases: dict[str, float] = {}
    try:
        with timed(phases, "apt install"):
            install_engine_tools()
        with timed(phases, "engine start"):
            started = DockerEngine().start()
    except EngineUnavailable as error:
        unavailable(str(error))
    try:
        with timed(phases, "base image"):
            try:
                build_base_image(started, tmp_path_factory.mktemp("image-base"))
            except EngineUnavailable as error:
                unavailable(str(error))
        with timed(phases, "image build"):
            build_project_image(started, IMAGE)
        print("\nimage lane: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items()))
        yield started
    finally:
        started.stop()


@dataclass
class Container:
    engine: DockerEngine
    name: str

    def inspect(self, template: str) -> str:
        return self.engine.docker("inspect", "--format", template, self.name).stdout.strip()

    def process_uids(self) -> list[int]:
        """Real, effective, saved and file-system uid of the container's main process, as the host sees it."""
        pid = self.inspect("{{.State.Pid}}")
        assert pid != "0", f"{self.name} is not running"
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        [uid_line] = [line for line in status.splitlines() if line.startswith("Uid:")]
        return [int(value) for value in uid_line.split()[1:]]

    def wait_until_healthy(self, timeout: float = HEALTHY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running, health = self.inspect("{{.State.Running}} {{.State.Health.Status}}").split()
            assert running == "true", f"{self.name} stopped before it was healthy"
            assert health != "unhealthy", f"{self.name} is unhealthy"
            if health == "healthy":
                return
            time.sleep(1)
        raise TimeoutError(f"{self.name} is not healthy after {timeout} s")

    def logs(self) -> str:
        result = self.engine.docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        self.engine.docker("rm", "--force", self.name, check=False)


def container_environment(stack: Stack, aws: LocalAws, server: TemporalDevServer, health_port: int,
                          ) -> dict[str, str]:
    """What a container needs to join the stack; its temp area stays the image's own."""
    environment = {name: value for name, value in stack.env().items() if name != "TEMP_DIR"}
    # Both health addresses name this container's own port: the health check asks both, and on the host network
    # the default ports could answer for some other process.
    health_address = f"{LOOPBACK}:{health_port}"
    return {**environment, **local_aws_environment(aws.endpoint_url),
            "TEMPORAL_ADDRESS": server.address, "TEMPORAL_NAMESPACE": os.environ.get("TEMPORAL_NAMESPACE", "default"),
            "WORKER_HEALTH_BIND_ADDRESS": health_address, "BRIDGE_HEALTH_BIND_ADDRESS": health_address,
            "METRICS_BIND_ADDRESS": ""}


def run_container(engine: DockerEngine, role: str, environment: dict[str, str], *command: str) -> Container:
    """The image on the host network; only the health check's timing is changed, so the test needs no minute."""
    container = Container(engine, f"waveflow-{role}-{uuid.uuid4().hex[:8]}")
    settings = [f"--env={name}={value}" for name, value in environment.items()]
    engine.docker("run", "--detach", "--name", container.name, "--network", "host", "--health-interval=2s",
                  "--health-start-period=60s", *settings, IMAGE, *command)
    return container


@pytest.fixture
def containers(engine: DockerEngine, stack: Stack, local_aws: LocalAws,
               temporal_server: TemporalDevServer) -> Iterator[tuple[Container, Container]]:
    """The worker (the image's default command) and the bridge, each with a health port of its own."""
    started: list[Container] = []
    try:
        started.append(run_container(engine, "worker", container_environment(
            stack, local_aws, temporal_server, free_port())))
        started.append(run_container(engine, "bridge", container_environment(
            stack, local_aws, temporal_server, free_port()), "waveflow-bridge"))
        yield started[0], started[1]
    finally:
        for container in started:
            container.remove()


@contextlib.contextmanager
def logs_on_failure(containers: list[Container]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for container in containers:
            print(f"\n----- docker logs {container.name} -----\n{container.logs()}")
        raise


@pytest.mark.long
@pytest.mark.timeout(LANE_TIMEOUT_SECONDS)
def test_image_runs_worker_and_bridge_as_non_root_healthy_and_ingests_a_stem(
        containers: tuple[Container, Container], stack: Stack) -> None:
    worker, bridge = containers
    with logs_on_failure([worker, bridge]):
        for container in (worker, bridge):
            assert container.inspect("{{json .Config.Healthcheck.Test}}") == \
                '["CMD","python","-m","waveflow.health"]', "the Dockerfile's own health check runs"
            container.wait_until_healthy()
            assert container.process_uids() == [NON_ROOT_UID] * 4, f"{container.name} is not uid {NON_ROOT_UID}"

        key = "uploads/user-1/track-1/image.wav"
        stack.put(key, encode(sine(1.0)))
        stack.send(hash_request("image-1", key))
        stack.standin.wait_for(HASH_CHECK, 1, STEM_TIMEOUT_SECONDS)
        [completion] = stack.standin.wait_for(COMPLETION, 1, STEM_TIMEOUT_SECONDS)

        assert completion.body["status"] == "SUCCESS", completion.body
        result = completion.body["result"]
        assert {result["waveform_data_path"], result["waveform_detail_path"], key} <= set(stack.object_keys())
