"""The fault matrix: crashes at every phase, outages of Temporal, S3 and the webhook server, a full disk, load.

Each ends with every stem completed exactly once (one completion per idempotency key), originals kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from devstack.fault_proxy import FaultProxy
from devstack.nestjs_standin import NestJsStandIn
from devstack.processes import TemporalDevServer, free_port, spawn, stop_process
from tests.audio_samples import SAMPLE_RATE, encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, bridge_running, distinct_webhooks, hash_request, webhooks
from workflows.stem_ingest import StemIngestWorkflow


@dataclass
class Faulty:
    """A stack whose worker is a real process reaching S3 through the fault proxy."""

    stack: Stack
    proxy: FaultProxy
    log: Path
    worker: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {**self.stack.env(), "AWS_ENDPOINT_URL": self.proxy.url, "WEBHOOK_TIMEOUT_SECONDS": "2"}

    def start_worker(self, **spawn_options: int) -> None:
        self.worker = spawn("worker.py", self.env(), self.log, **spawn_options)

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.kill()
        self.worker.wait()


@pytest.fixture
def faulty(stack: Stack, tmp_path: Path) -> Iterator[Faulty]:
    proxy = FaultProxy(stack.aws.port).start()
    setup = Faulty(stack, proxy, tmp_path / "worker.log")
    yield setup
    if setup.worker is not None:
        stop_process(setup.worker)
    proxy.stop()


async def wait_for_phase(client: Client, workflow_id: str, phase: str, timeout: float = 60) -> None:
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RPCError):
            if (await handle.query(StemIngestWorkflow.status)).phase == phase:
                return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{workflow_id} never reached {phase}")


async def wait_for_pending(client: Client, workflow_id: str, activity_type: str, timeout: float = 60) -> None:
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RPCError):
            pending = (await handle.describe()).raw_description.pending_activities
            if any(item.activity_type.name == activity_type for item in pending):
                return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{workflow_id} never scheduled {activity_type}")


async def assert_completed_once(stack: Stack, client: Client, stem_id: str, key: str) -> dict[str, object]:
    """One run, one applied hash-check and completion (by idempotency key), SUCCESS, the original kept."""
    handle = client.get_workflow_handle(f"stem-{stem_id}")
    for _ in range(600):
        with contextlib.suppress(RPCError):
            await handle.describe()
            break
        await asyncio.sleep(0.1)
    await asyncio.wait_for(handle.result(), 240)
    runs = [item async for item in client.list_workflows(f"WorkflowId = 'stem-{stem_id}'")]
    assert len(runs) == 1
    completions = [item for item in stack.standin.unique_accepted(COMPLETION).values()
                   if item.body["stemId"] == stem_id]
    hash_checks = [item for item in stack.standin.unique_accepted(HASH_CHECK).values()
                   if item.body["stemId"] == stem_id]
    assert len(completions) == 1 and len(hash_checks) <= 1
    # A retried workflow task that analysed a small stem again reports the retry's end: the rest is the same.
    every_copy = {json.dumps({name: value for name, value in item.body.items()
                              if name not in ("timestamp", "processing_time")}, sort_keys=True)
                  for item in stack.standin.accepted(COMPLETION) if item.body["stemId"] == stem_id}
    assert len(every_copy) == 1, "a retried webhook carries the same result"
    assert key in stack.object_keys()
    body = completions[0].body
    assert body["status"] == "SUCCESS", body
    return body


def long_flac(minutes: float) -> bytes:
    """FLAC decodes several times slower than WAV: a window wide enough to kill the worker mid-analysis."""
    return encode(sine(minutes * 60, amplitude=0.4), format="FLAC")


PHASES = ["downloading_here", "downloading", "hash_check", "awaiting_decision", "analysing", "uploading_waveform",
          "sending_completion"]


@pytest.mark.parametrize("phase", PHASES)
async def test_worker_sigkill_at_each_phase_completes_once(faulty: Faulty, client: Client, phase: str) -> None:
    stack, proxy = faulty.stack, faulty.proxy
    stem_id, key = f"kill-{phase}", f"uploads/kill-{phase}.audio"
    # 9 MB of FLAC, 10 MB of WAV: past LOCAL_DOWNLOAD_MAX_MB, analysed and downloaded by their activities.
    audio = long_flac(12) if phase == "analysing" else encode(sine(60 if phase == "downloading" else 1.0))
    stack.put(key, audio)
    if phase == "downloading":  # 10 MB: past LOCAL_DOWNLOAD_MAX_MB, downloaded by its activity
        proxy.faults.get_bytes_per_second = 2_000_000
    if phase == "downloading_here":  # 176 kB: in the run's first workflow task, as a local activity
        proxy.faults.get_bytes_per_second = 50_000
    if phase == "awaiting_decision":
        stack.standin.behaviour.send_decisions = False
    if phase == "hash_check":
        stack.standin.delay_next(HASH_CHECK, 4)
    if phase == "sending_completion":
        stack.standin.delay_next(COMPLETION, 4)
    if phase == "uploading_waveform":
        proxy.faults.put_delays["waveforms/"] = [5]
    faulty.start_worker()
    async with bridge_running(client, stack.settings):
        stack.send(hash_request(stem_id, key))
        if phase == "downloading":
            await wait_for_pending(client, f"stem-{stem_id}", "download_and_hash")
            await asyncio.to_thread(proxy.wait_until_active, "GET")
        elif phase == "downloading_here":
            await asyncio.to_thread(proxy.wait_until_active, "GET")
        elif phase in ("hash_check", "sending_completion"):
            await asyncio.to_thread(stack.standin.wait_until_in_progress,
                                    HASH_CHECK if phase == "hash_check" else COMPLETION)
        elif phase == "uploading_waveform":
            await asyncio.to_thread(proxy.wait_until_active, "PUT")
        else:
            await wait_for_phase(client, f"stem-{stem_id}", phase)
        faulty.kill_worker()
        proxy.faults.get_bytes_per_second = None
        if phase == "analysing":
            assert not any(method == "PUT" for method, _, _ in proxy.requests), "killed before the upload"
        faulty.start_worker()
        if phase == "awaiting_decision":
            [hash_check] = await webhooks(stack, HASH_CHECK)
            stack.send({"task": "app.tasks.process_audio_analysis", "id": f"analysis-{stem_id}-1", "args": [],
                        "kwargs": {"stemId": stem_id, "filepath": key, "audio_hash": hash_check.body["audio_hash"],
                                   "num_peaks": 500}})
        body = await assert_completed_once(stack, client, stem_id, key)
    assert body["result"]["audio_data_hash"] == hashlib.sha256(audio).hexdigest()
    history = [event async for event in client.get_workflow_handle(f"stem-{stem_id}").fetch_history_events()]
    if phase in ("downloading_here", "uploading_waveform"):
        # A small stem's download and analysis are local activities: their workflow task times out and runs again.
        assert any(event.HasField("workflow_task_timed_out_event_attributes") for event in history)
        assert len(stack.standin.accepted(HASH_CHECK)) == 1
    elif phase in ("hash_check", "sending_completion"):
        # Local activities: their workflow task times out and runs again on the new worker, which sends the same body.
        assert any(event.HasField("workflow_task_timed_out_event_attributes") for event in history)
        kind = HASH_CHECK if phase == "hash_check" else COMPLETION
        assert len(stack.standin.accepted(kind)) == 2, "the interrupted POST was sent again"
    elif phase != "awaiting_decision":
        assert any(event.HasField("activity_task_timed_out_event_attributes") or
                   (event.HasField("activity_task_started_event_attributes") and
                    event.activity_task_started_event_attributes.attempt > 1) for event in history), \
            "the interrupted step was retried"


async def test_temporal_restart_in_the_middle_of_several_stems(stack: Stack, tmp_path: Path) -> None:
    server = TemporalDevServer(port=free_port(), ui_port=free_port(), db_file=tmp_path / "temporal.db",
                               log_file=tmp_path / "temporal.log").start()
    worker = None
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        stems = [f"outage-{index}" for index in range(6)]
        for index, stem_id in enumerate(stems):
            stack.put(f"uploads/{stem_id}.wav", encode(sine(0.5 + index)))
        stack.standin.delay_next(COMPLETION, *[2.0] * 6)
        worker = spawn("worker.py", {**stack.env(), "TEMPORAL_ADDRESS": server.address}, tmp_path / "worker.log")
        async with bridge_running(client, stack.settings):
            for stem_id in stems:
                stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            await webhooks(stack, HASH_CHECK, 3)
            assert len(stack.standin.unique_accepted(COMPLETION)) < len(stems), "the outage came mid-flight"
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(server.start)
            await distinct_webhooks(stack, COMPLETION, len(stems), timeout=180)
            for stem_id in stems:
                await assert_completed_once(stack, client, stem_id, f"uploads/{stem_id}.wav")
    finally:
        if worker is not None:
            stop_process(worker)
        server.stop()


async def test_s3_throttling_and_a_cut_download_still_give_the_right_hash(faulty: Faulty, client: Client) -> None:
    audio = encode(sine(20.0))
    faulty.stack.put("uploads/throttled.wav", audio)
    faulty.proxy.faults.get_statuses = [503, 503, 503, 500, 503, 503, 503]
    faulty.proxy.faults.cut_get_after_bytes = [len(audio) // 3]
    faulty.start_worker()
    async with bridge_running(client, faulty.stack.settings):
        faulty.stack.send(hash_request("throttled", "uploads/throttled.wav"))
        body = await assert_completed_once(faulty.stack, client, "throttled", "uploads/throttled.wav")
    assert body["result"]["audio_data_hash"] == hashlib.sha256(audio).hexdigest()
    statuses = [status for method, _, status in faulty.proxy.requests if method == "GET"]
    assert statuses.count(503) == 6 and statuses.count(500) == 1
    assert faulty.proxy.faults.cut_get_after_bytes == [], "the cut download happened"


@contextlib.asynccontextmanager
async def standin_started_later(port: int, delay: float, stack: Stack) -> AsyncIterator[NestJsStandIn]:
    """A webhook server that is down (connection refused) for `delay` seconds, then up."""
    sqs = stack.aws.sqs()
    standin = NestJsStandIn(send_to_sqs=lambda body: sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body),
                            port=port)
    await asyncio.sleep(delay)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


async def test_webhook_server_down_for_a_while(faulty: Faulty, client: Client) -> None:
    port = free_port()
    stack = faulty.stack
    stack.put("uploads/patient.wav", encode(sine(0.5)))
    env = {**faulty.env(), "WEBHOOK_URL": f"http://127.0.0.1:{port}/webhook"}
    faulty.worker = spawn("worker.py", env, faulty.log)
    async with bridge_running(client, stack.settings):
        stack.send(hash_request("patient", "uploads/patient.wav"))
        await wait_for_phase(client, "stem-patient", "sending_hash_check")
        async with standin_started_later(port, 4, stack) as standin:
            stack.standin = standin
            body = await assert_completed_once(stack, client, "patient", "uploads/patient.wav")
    assert body["stemId"] == "patient"


async def test_webhook_server_slow_then_failing_then_fine(faulty: Faulty, client: Client) -> None:
    stack = faulty.stack
    stack.put("uploads/moody.wav", encode(sine(0.5)))
    stack.standin.delay_next(HASH_CHECK, 3.0, 3.0)
    stack.standin.fail_next(COMPLETION, 500, 500, 503)
    faulty.start_worker()
    async with bridge_running(client, stack.settings):
        stack.send(hash_request("moody", "uploads/moody.wav"))
        await assert_completed_once(stack, client, "moody", "uploads/moody.wav")
    hash_attempts = [item for item in stack.standin.received if item.path == HASH_CHECK]
    assert len(hash_attempts) >= 3, "the slow answers timed out and were retried"
    assert len({item.headers["Idempotency-Key"] for item in hash_attempts}) == 1
    assert [item.status for item in stack.standin.received if item.path == COMPLETION] == [500, 500, 503, 201]


async def test_full_temp_disk_is_a_clear_retryable_error_and_nothing_half_written(
        faulty: Faulty, client: Client) -> None:
    stack = faulty.stack
    stack.put("uploads/big.wav", encode(sine(30.0)))
    faulty.start_worker(max_file_bytes=1024 * 1024)
    handle = client.get_workflow_handle("stem-big")
    async with bridge_running(client, stack.settings):
        stack.send(hash_request("big", "uploads/big.wav"))
        failure = ""
        for _ in range(300):
            with contextlib.suppress(RPCError):
                pending = (await handle.describe()).raw_description.pending_activities
                if pending and pending[0].last_failure.message:
                    failure = pending[0].last_failure.message
                    break
            await asyncio.sleep(0.1)
        assert "is full" in failure and "temp area" in failure
        assert stack.temp_files() == [], "the partial download was removed"
        assert not [key for key in stack.object_keys() if key.startswith("waveforms/")]
        stop_process(faulty.worker)
        faulty.start_worker()
        await assert_completed_once(stack, client, "big", "uploads/big.wav")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_200_concurrent_stems_of_mixed_sizes_bounded_memory(faulty: Faulty, client: Client) -> None:
    stack = faulty.stack
    stems = {f"many-{index:03d}": 60.0 if index % 10 == 0 else 0.3 for index in range(200)}
    for index, (stem_id, seconds) in enumerate(stems.items()):
        noise = np.random.default_rng(index).uniform(-0.3, 0.3, (round(seconds * SAMPLE_RATE), 2))
        stack.put(f"uploads/{stem_id}.wav", encode(noise))
    faulty.stack.settings.temp_dir.mkdir(parents=True, exist_ok=True)
    faulty.worker = spawn("worker.py", {**faulty.env(), "MAX_CONCURRENT_ACTIVITIES": "8"}, faulty.log)
    async with bridge_running(client, stack.settings):
        for stem_id in stems:
            stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
        await webhooks(stack, COMPLETION, len(stems), timeout=400)
    peak = vm_hwm_mb(faulty.worker.pid)
    assert peak < 400, f"worker peak RSS {peak:.0f} MB"
    completions = stack.standin.unique_accepted(COMPLETION)
    assert sorted(item.body["stemId"] for item in completions.values()) == sorted(stems)
    assert all(item.body["status"] == "SUCCESS" for item in completions.values())
    assert len([key for key in stack.object_keys() if key.startswith("uploads/")]) == len(stems)


async def assert_every_activity_ran_once(client: Client, stem_id: str) -> None:
    """No activity of the stem timed out or was attempted twice: no second attempt ever ran beside a first."""
    events = [event async for event in client.get_workflow_handle(f"stem-{stem_id}").fetch_history_events()]
    kinds = [event.event_type for event in events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT not in kinds, f"an activity of {stem_id} timed out"
    attempts = [event.activity_task_started_event_attributes.attempt for event in events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert attempts and set(attempts) == {1}, f"{stem_id} attempts {attempts}"


async def test_s3_slower_than_the_heartbeat_timeout_on_get_and_put_runs_each_step_once(
        faulty: Faulty, client: Client) -> None:
    """Each call is held past botocore's read timeout twice (about 22 s with its retries), longer than the
    download's (15 s) and the analysis's (10 s) heartbeat timeout."""
    stack = faulty.stack
    stack.put("uploads/sluggish.wav", encode(sine(0.5)))
    held = [11.0, 11.0]
    faulty.proxy.faults.get_delays = list(held)
    faulty.proxy.faults.put_delays = {"waveforms/": list(held)}
    faulty.start_worker()
    async with bridge_running(client, stack.settings):
        stack.send(hash_request("sluggish", "uploads/sluggish.wav"))
        await assert_completed_once(stack, client, "sluggish", "uploads/sluggish.wav")
    assert faulty.proxy.faults.get_delays == [], "every delay was served"
    assert faulty.proxy.faults.put_delays["waveforms/"] == []
    await assert_every_activity_ran_once(client, "sluggish")


async def test_64_activities_at_once_all_run_and_heartbeat(faulty: Faulty, client: Client) -> None:
    """32 analyses held in their uploads for about 19 s fill the host queue's slots while 32 downloads, each held
    9 s before its first byte, fill the shared queue's: every started activity needs a thread of its own, or it
    waits for one without heartbeating and times out."""
    stack = faulty.stack
    analysed_first, downloaded_meanwhile = [f"busy-{index:02d}" for index in range(32)], [
        f"late-{index:02d}" for index in range(32)]
    for index, stem_id in enumerate(analysed_first + downloaded_meanwhile):
        stack.put(f"uploads/{stem_id}.wav", encode(sine(0.1, frequency=100.0 + 10 * index)))
    faulty.proxy.faults.put_delays = {"waveforms/": [9.5] * 2 * len(analysed_first)}
    faulty.start_worker()
    # Every download and analysis an activity of its own, however small the object (LOCAL_DOWNLOAD_MAX_MB=0).
    async with bridge_running(client, stack.settings.model_copy(update={"local_download_max_mb": 0})):
        for stem_id in analysed_first:
            stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
        await asyncio.to_thread(faulty.proxy.wait_until_active, "PUT", 60, len(analysed_first))
        faulty.proxy.faults.get_delays = [9.0] * len(downloaded_meanwhile)
        for stem_id in downloaded_meanwhile:
            stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
        await webhooks(stack, COMPLETION, len(analysed_first + downloaded_meanwhile), timeout=180)
    completions = stack.standin.unique_accepted(COMPLETION)
    assert sorted(item.body["stemId"] for item in completions.values()) == sorted(analysed_first
                                                                                  + downloaded_meanwhile)
    assert all(item.body["status"] == "SUCCESS" for item in completions.values())
    for stem_id in analysed_first + downloaded_meanwhile:
        await assert_every_activity_ran_once(client, stem_id)
