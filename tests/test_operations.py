"""Operations: cleanup on every host, the schedule, health, the README's CLI commands, metrics."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from devstack.processes import ROOT, TemporalDevServer, free_port, spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import (
    COMPLETION,
    HASH_CHECK,
    Stack,
    bridge_running,
    cli_env,
    hash_request,
    services_running,
    webhooks,
)
from waveflow.models import CleanupReport, HealthReport
from waveflow.settings import Settings
from waveflow.tempfiles import TempArea
from worker import cleanup_schedule_id, ensure_cleanup_schedule, running_workers
from workflows.maintenance import CleanupTempFilesWorkflow, HealthCheckWorkflow

MINUTE = 60


def aged(path: Path, minutes: float, content: bytes = b"x" * 100) -> Path:
    path.write_bytes(content)
    then = time.time() - minutes * MINUTE
    os.utime(path, (then, then))
    return path


async def activity_pollers(client: Client, settings: Settings) -> set[str]:
    """Identities polling the shared queue for activities now: what the cleanup's host listing sees. A busy dev
    server may cancel the call; then nobody is seen this time."""
    try:
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=settings.temporal_task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY), timeout=timedelta(seconds=5))
    except RPCError as error:
        if error.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE):
            raise
        return set()
    return {poller.identity for poller in response.pollers}


async def until_polling(client: Client, settings: Settings, identity: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while identity not in await activity_pollers(client, settings):
        assert time.monotonic() < deadline, f"{identity} not polling after {timeout} s"
        await asyncio.sleep(0.1)


@pytest.mark.long
async def test_one_cleanup_sweeps_every_host_and_keeps_what_it_must(stack: Stack, client: Client,
                                                                    tmp_path: Path) -> None:
    hosts = {name: stack.settings.model_copy(update={"worker_host_id": name, "temp_dir": tmp_path / name / "temp"})
             for name in ("host-a", "host-b")}
    outside = aged(tmp_path / "outside-old.audio", 600)
    host_b = spawn("worker.py", {**stack.env(), "WORKER_HOST_ID": "host-b", "TEMP_DIR": str(hosts["host-b"].temp_dir)},
                   tmp_path / "host-b.log")
    async with running_workers(client, hosts["host-a"]):
        await until_polling(client, stack.settings, hosts["host-b"].host_task_queue)
        files = {}
        for name, settings in hosts.items():
            root = settings.temp_dir
            files[name] = {
                "own_old": aged(root / "waveflow-stem-s1-0123abcd.audio", 31),
                "own_young": aged(root / "waveflow-stem-s2-0123abcd.audio", 29),
                "foreign_old": aged(root / "core.1234", 121),
                "foreign_young": aged(root / "notes.txt", 60),
                "leased_old": aged(root / "waveflow-stem-s3-0123abcd.audio", 45),
            }
        with TempArea(hosts["host-a"].temp_dir).lease(files["host-a"]["leased_old"]):
            aged(files["host-a"]["leased_old"], 45)
            report: CleanupReport = await client.execute_workflow(
                CleanupTempFilesWorkflow.run, id=f"cleanup-{stack.bucket}",
                task_queue=stack.settings.temporal_task_queue)
    stop_process(host_b)
    by_host = {sweep.host_task_queue: sweep for sweep in report.hosts}
    assert set(by_host) == {settings.host_task_queue for settings in hosts.values()}
    assert report.unreachable_hosts == []
    assert by_host[hosts["host-a"].host_task_queue].kept_in_use == 1
    assert by_host[hosts["host-b"].host_task_queue].removed_files == 3
    assert report.removed_files == 5 and report.removed_bytes == 500
    for name, kinds in files.items():
        assert not kinds["own_old"].exists() and not kinds["foreign_old"].exists()
        assert kinds["own_young"].exists() and kinds["foreign_young"].exists()
        assert kinds["leased_old"].exists() == (name == "host-a")
    assert outside.exists()


async def test_schedule_created_once_survives_restart_and_keeps_a_pause(stack: Stack, client: Client,
                                                                       tmp_path: Path) -> None:
    worker = spawn("worker.py", stack.env(), tmp_path / "worker.log")
    schedule_id = cleanup_schedule_id(stack.settings)
    handle = client.get_schedule_handle(schedule_id)
    try:
        description = None
        for _ in range(100):
            try:
                description = await handle.describe()
                break
            except RPCError:  # not created yet
                await asyncio.sleep(0.2)
        assert description is not None
        assert description.schedule.spec.intervals[0].every.total_seconds() == 30 * MINUTE
        await handle.pause(note="operator: disk maintenance")
        stop_process(worker)
        worker = spawn("worker.py", stack.env(), tmp_path / "worker.log")
        for _ in range(100):
            if "updated schedule" in (tmp_path / "worker.log").read_text():
                break
            await asyncio.sleep(0.2)
        description = await handle.describe()
        assert description.schedule.state.paused
        assert description.schedule.state.note == "operator: disk maintenance"
        ids = [item.id async for item in await client.list_schedules()]
        assert ids.count(schedule_id) == 1
    finally:
        stop_process(worker)
        await handle.delete()


async def test_health_is_healthy_when_everything_answers(services: Stack, client: Client) -> None:
    report: HealthReport = await client.execute_workflow(HealthCheckWorkflow.run, id=f"health-{services.bucket}",
                                                         task_queue=services.settings.temporal_task_queue)
    assert report.status == "healthy", report
    assert {check.name for check in report.checks} == {"s3", "sqs", "webhook", "temp_area"}
    assert report.worker == services.settings.host_task_queue and "temporalio" in report.versions


async def test_health_names_s3_and_webhook_when_they_are_down(stack: Stack, client: Client, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**stack.env(), "AWS_ENDPOINT_URL": dead, "WEBHOOK_URL": f"{dead}/webhook"}
    worker = spawn("worker.py", env, tmp_path / "worker.log")
    try:
        report: HealthReport = await client.execute_workflow(
            HealthCheckWorkflow.run, id=f"health-down-{stack.bucket}", task_queue=stack.settings.temporal_task_queue)
    finally:
        stop_process(worker)
    failed = {check.name: check.detail for check in report.checks if not check.ok}
    assert report.status == "unhealthy"
    assert set(failed) == {"s3", "sqs", "webhook"}
    assert failed["s3"].startswith(f"bucket {stack.bucket} unreachable")
    assert failed["webhook"].startswith("webhook base URL unreachable")


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- cli-commands -->")[1].split("<!-- /cli-commands -->")[0]
    return [line for line in block.splitlines() if line.startswith("temporal ")]


async def test_readme_cli_commands_work_as_written(stack: Stack, client: Client,
                                                   temporal_server: TemporalDevServer) -> None:
    settings = stack.settings.model_copy(update={"temporal_task_queue": "waveflow", "worker_host_id": "cli-host",
                                                 "temporal_search_attributes": True})
    stack.standin.behaviour.send_decisions = False
    stack.put("uploads/user-1/track-1/drums.wav", encode(sine(0.5)))
    env = cli_env(temporal_server, STEM_ID=f"cli-{stack.bucket}")
    commands = readme_commands()
    assert len(commands) == 9
    await ensure_cleanup_schedule(client, settings)
    outputs: list[str] = []
    try:
        async with services_running(client, settings):
            stack.send(hash_request(env["STEM_ID"], "uploads/user-1/track-1/drums.wav"))
            await webhooks(stack, HASH_CHECK)
            for command in commands:
                if command.startswith("temporal workflow list"):
                    await webhooks(stack, COMPLETION)
                    await client.get_workflow_handle(f"stem-{env['STEM_ID']}").result()
                done = await asyncio.to_thread(subprocess.run, ["bash", "-c", command], env=env,
                                               capture_output=True, text=True, timeout=120)
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
                outputs.append(done.stdout)
    finally:
        await client.get_schedule_handle("waveflow-cleanup-temp-files").delete()
    health, cleanup, query, listing = outputs[0], outputs[1], outputs[6], outputs[8]
    assert '"healthy"' in health and "unhealthy" not in health
    assert '"host_task_queue":"waveflow@cli-host"' in cleanup and '"removed_files"' in cleanup
    assert "awaiting_decision" in query
    assert f"stem-{env['STEM_ID']}" in listing
    [completion] = stack.standin.accepted(COMPLETION)
    assert completion.body["status"] == "SUCCESS" and completion.body["result"]["num_peaks"] == 1024


def counter(metrics: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"^{name}(?:_total)?(?:\{{(?P<labels>[^}}]*)\}})? (?P<value>\S+)$", line)
        if match and all(f'{key}="{value}"' in (match["labels"] or "") for key, value in labels.items()):
            total += float(match["value"])
    return total


async def test_metrics_endpoint_shows_waveflow_counters_moving(stack: Stack, client: Client, tmp_path: Path) -> None:
    port = free_port()
    worker = spawn("worker.py", {**stack.env(), "METRICS_BIND_ADDRESS": f"127.0.0.1:{port}"},
                   tmp_path / "worker.log")
    audio = encode(sine(3.0))
    stack.put("uploads/metered.wav", audio)
    try:
        async with httpx.AsyncClient() as http, bridge_running(client, stack.settings):
            for _ in range(100):
                try:
                    before = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
            stack.send(hash_request("metered", "uploads/metered.wav"))
            await webhooks(stack, COMPLETION)
            await client.get_workflow_handle("stem-metered").result()
            after = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        stop_process(worker)
    assert counter(after, "waveflow_stems_completed", outcome="success") == counter(
        before, "waveflow_stems_completed", outcome="success") + 1
    assert counter(after, "waveflow_bytes_hashed") - counter(before, "waveflow_bytes_hashed") == len(audio)
    assert counter(after, "waveflow_audio_seconds_analysed") - counter(before, "waveflow_audio_seconds_analysed") == 3
    assert counter(after, "waveflow_webhook_attempts", kind="completion", outcome="delivered") == 1
    assert "temporal_" in after
